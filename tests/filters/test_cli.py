"""``imgclass blur`` and ``imgclass filters learn`` end to end through imgclass.cli.main."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from imgclass.cli import main
from tests.conftest import require_fashion_mnist

PNG = b"\x89PNG\r\n\x1a\n"


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("mode,shape", [("RGB", [3, 30, 40]), ("L", [1, 30, 40]), ("RGBA", [3, 30, 40])])
def test_blur_an_image_file(tmp_path, capsys, rng, mode, shape):
    src = tmp_path / f"in_{mode}.png"
    pixels = rng.integers(0, 256, size=(30, 40, len(mode)), dtype=np.uint8)
    Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode).save(src)
    out = tmp_path / "figs" / "blur.png"
    assert main(["blur", str(src), "--size", "5", "--sigma", "1.5", "--out", str(out), "--json"]) == 0
    text = capsys.readouterr().out
    r = last_json(text)
    assert r["mode"] == "image" and r["shape"] == shape and r["size"] == 5 and r["sigma"] == 1.5
    assert r["kernel_sum"] == pytest.approx(1.0) and r["out"] == str(out)
    assert out.read_bytes()[:8] == PNG and "5x5 Gaussian" in text


def test_blur_dataset_images(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["blur", "--dataset", "digits", "--count", "6", "--size", "3", "--sigma", "0.7",
                 "--border", "reflect", "--out", str(out), "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r["mode"] == "dataset" and r["input"] == "digits" and r["count"] == 6 and r["shape"] == [1, 8, 8]
    assert r["border"] == "reflect" and out.read_bytes()[:8] == PNG


def test_blur_real_fashion_mnist(tmp_path, capsys):
    require_fashion_mnist()
    out = tmp_path / "fashion.png"
    assert main(["blur", "--dataset", "fashion-mnist", "--count", "10", "--out", str(out), "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r["count"] == 10 and r["shape"] == [1, 28, 28] and out.is_file()


@pytest.mark.parametrize("argv,message", [
    (["blur"], "either an IMAGE file or --dataset"),
    (["blur", "x.png", "--dataset", "digits"], "either an IMAGE file or --dataset"),
    (["blur", "x.png", "--count", "3"], "only apply with --dataset"),
    (["blur", "--dataset", "digits", "--size", "4"], "kernel size must be odd"),
    (["blur", "--dataset", "digits", "--sigma", "0"], "sigma must be"),
    (["blur", "--dataset", "digits", "--count", "0"], "count must be"),
    (["blur", "--dataset", "nope"], "unknown dataset"),
    (["blur", "missing.png"], "file not found"),
])
def test_blur_user_errors_exit_1_without_traceback(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_blur_a_file_that_is_not_an_image(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["blur", str(bad), "--out", str(tmp_path / "o.png")]) == 1
    assert "not an image" in capsys.readouterr().err


def test_blur_cifar10_missing_offline_is_a_clear_error(tmp_path, capsys):
    code = main(["blur", "--dataset", "cifar10", "--no-download", "--data-dir", str(tmp_path),
                 "--out", str(tmp_path / "c.png")])
    if code == 0:  # CIFAR-10 is installed on this machine: then it must have worked
        assert (tmp_path / "c.png").is_file()
    else:
        assert code == 1 and "cifar" in capsys.readouterr().err.lower()


def test_filters_learn(tmp_path, capsys):
    out = tmp_path / "learn"
    assert main(["filters", "learn", "--out", str(out), "--json"]) == 0
    text = capsys.readouterr().out
    r = last_json(text)
    assert r["filters"] == [20, 3, 5, 5] and r["n_images"] == 100 and r["optimizer"] == "sgd"
    assert r["weight_rel"] < 1e-8 and r["output_rel"] < 1e-8 and r["final_loss"] < 1e-20
    for key in ("loss_plot", "filters_plot"):
        assert open(r[key], "rb").read(8) == PNG
    assert np.load(r["weights"])["w_learned"].shape == (20, 3, 5, 5)
    assert "weight L2" in text and "output L2" in text


def test_filters_learn_with_given_weights(tmp_path, capsys, rng):
    w = rng.uniform(-0.5, 0.5, size=(20, 3, 5, 5))
    np.save(tmp_path / "c0.npy", w)
    assert main(["filters", "learn", "--weights", str(tmp_path / "c0.npy"), "--steps", "40",
                 "--out", str(tmp_path / "run"), "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r["weight_rel"] < 1e-8
    np.testing.assert_array_equal(np.load(r["weights"])["w_true"], w)


def test_filters_learn_user_errors(tmp_path, capsys):
    assert main(["filters", "learn", "--weights", str(tmp_path / "none.npy"), "--out", str(tmp_path)]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["filters", "learn", "--lr", "100", "--steps", "20", "--out", str(tmp_path)]) == 1
    assert "diverged" in capsys.readouterr().err


def test_every_flag_has_help(capsys):
    for argv in (["blur", "--help"], ["filters", "learn", "--help"], ["filters", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
    from imgclass.cli import get_parser

    parser = get_parser()
    subs = parser._subparsers._group_actions[0].choices
    filters_sub = subs["filters"]._subparsers._group_actions[0].choices
    for p in (subs["blur"], filters_sub["learn"]):
        for action in p._actions:
            assert action.help, (p.prog, action.dest)
