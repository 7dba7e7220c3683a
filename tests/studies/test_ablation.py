"""The ablation study: a ladder of cumulative changes, one run per step, the last over several seeds."""

import json
from pathlib import Path

import pytest

from imgclass.cli import main
from imgclass.errors import ImgclassError
from imgclass.evaluate.report import build_report
from imgclass.runs import Run
from imgclass.studies.ablation import ablation_study, ladder_configs
from imgclass.studies.ladders import LADDERS
from imgclass.train import TrainConfig
from tests.evaluate import self_contained_images


def small():
    return TrainConfig(model="cnn:4,8,8;fc=16", epochs=1, batch_size=128, threads=1)


def test_each_step_keeps_every_change_before_it():
    steps = ladder_configs(TrainConfig(dataset="cifar10", model="cifar-classic"))
    assert [s.name for s, _ in steps] == [s.name for s in LADDERS["usi"]]
    base, wd, drop, aug, nobias, bn = (c for _, c in steps)
    assert (base.weight_decay, base.model.dropout, base.flip, base.model.batchnorm) == (0.0, 0.0, False, False)
    assert wd.weight_decay > 0 and wd.model.dropout == 0.0
    assert drop.model.dropout == 0.5 and drop.weight_decay == wd.weight_decay
    assert aug.flip and aug.jitter > 0 and aug.crop_padding > 0 and aug.model.dropout == 0.5
    assert not nobias.model.bias and nobias.flip
    assert bn.model.batchnorm and not bn.model.bias and bn.flip and bn.weight_decay > 0
    assert all(c.model.channels == (32, 64, 128) and c.model.fc == (256,) for _, c in steps)
    assert bn.epochs == base.epochs and bn.lr == base.lr  # the rest of the recipe is shared
    with pytest.raises(ImgclassError, match="unknown ladder"):
        ladder_configs(base, "nope")


def test_the_command_trains_the_usi_recipe_unless_told_otherwise():
    from imgclass.cli import get_parser
    from imgclass.train.cli import config_from_args

    def config(*flags):
        return config_from_args(get_parser().parse_args(["study", "ablation", *flags]))

    cfg = config()
    assert (cfg.dataset, cfg.recipe, cfg.epochs) == ("cifar10", "usi", 40)
    assert cfg == TrainConfig(dataset="cifar10", model="cifar-classic", recipe="usi")  # what Python resolves
    assert TrainConfig(dataset="cifar10", model="cifar-classic").epochs == 20  # the cnn on cifar10 recipe
    assert config("--epochs", "20").epochs == 20  # a flag still wins


def test_the_study_trains_one_run_per_step_and_the_last_over_seeds(tmp_path):
    s = ablation_study(small(), final_seeds=2, out_root=tmp_path, progress=False)
    study = Run.open(s["run_dir"])
    assert study.kind == "study" and study.config()["study"] == "ablation"
    assert [r["step"] for r in s["rows"]] == [st.name for st in LADDERS["usi"]]
    for r in s["rows"][:-1]:
        run = Run.open(r["run_dir"])
        assert run.kind == "train" and run.results()["test_accuracy"] == r["test_accuracy"]
    last = Run.open(s["rows"][-1]["run_dir"])
    assert last.kind == "seeds" and len(s["rows"][-1]["seeds"]) == 2
    assert s["test_accuracy"] == s["rows"][-1]["test_accuracy"] and s["test_accuracy_std"] is not None
    assert json.loads((study.path / "results.json").read_text()) == json.loads(json.dumps(s))
    text = build_report(study.path)
    assert "Curves of each step" in text and len(self_contained_images(text)) == 1 + len(s["rows"])


def test_the_command_prints_the_ladder_and_refuses_seeds(tmp_path, capsys):
    assert main(["study", "ablation", "--dataset", "digits", "--model", "cnn:4,8,8;fc=16", "--epochs", "1",
                 "--threads", "1", "--final-seeds", "1", "--out", str(tmp_path), "--no-progress", "--json"]) == 0
    out = capsys.readouterr().out
    assert "+ batchnorm" in out and Path(json.loads(out.strip().splitlines()[-1])["run_dir"]).is_dir()
    assert main(["study", "ablation", "--seeds", "3", "--out", str(tmp_path)]) == 1
    assert "--final-seeds" in capsys.readouterr().err


def test_the_figure_draws_a_spread_only_where_seeds_give_one():
    from matplotlib.container import ErrorbarContainer

    from imgclass.studies.ablation import ablation_figure

    rows = [{"step": "baseline", "test_accuracy": 0.6, "test_accuracy_std": None, "val_accuracy": 0.61},
            {"step": "+ batchnorm", "test_accuracy": 0.7, "test_accuracy_std": 0.01, "val_accuracy": 0.7}]
    fig = ablation_figure(rows, "t")
    (bars,) = [c for c in fig.axes[0].containers if isinstance(c, ErrorbarContainer)]
    segments = bars.lines[2][0].get_segments()  # one vertical segment per drawn spread
    assert len(segments) == 1 and segments[0][:, 0].tolist() == [1, 1]
    assert segments[0][:, 1].tolist() == pytest.approx([0.69, 0.71])
