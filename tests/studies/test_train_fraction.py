"""The training-fraction study: one train run per fraction, written as one study directory."""

import json
from pathlib import Path

import pytest

from imgclass.errors import ImgclassError
from imgclass.evaluate.report import build_report
from imgclass.runs import Run
from imgclass.studies.train_fraction import check_fractions, train_fraction_study
from tests.evaluate import self_contained_images, tiny_config


def test_train_fraction_study_trains_one_run_per_fraction(tmp_path):
    s = train_fraction_study(tiny_config(), [1.0, 0.25], out_root=tmp_path, progress=False)
    study = Path(s["run_dir"])
    assert json.loads((study / "results.json").read_text()) == json.loads(json.dumps(s))
    assert Run.open(study).kind == "study" and Run.open(study).config()["study"] == "train-fraction"
    assert s["kind"] == "study" and s["fractions"] == [0.25, 1.0]
    small, full = s["rows"]
    assert small["train_size"] < full["train_size"] and abs(small["train_size"] / full["train_size"] - 0.25) < 0.02
    for r in s["rows"]:
        run = Path(r["run_dir"])
        assert run.parent == study
        assert json.loads((run / "config.json").read_text())["train_fraction"] == r["fraction"]
        assert r["test_accuracy"] == json.loads((run / "results.json").read_text())["test_accuracy"]
    assert Path(s["plots"][0]).is_file()
    text = build_report(study)
    assert len(self_contained_images(text)) == 1 + len(s["rows"])  # the study plot + each run's curves


@pytest.mark.parametrize("bad", [[0.0], [1.5], ["x"], []])
def test_fractions_must_lie_in_0_1(bad):
    with pytest.raises(ImgclassError, match=r"\(0, 1\]"):
        check_fractions(bad)
