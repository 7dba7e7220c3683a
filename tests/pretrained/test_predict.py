"""Prediction on image files: real photos, odd formats, bad files, folders, batching, annotated PNGs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgclass.errors import ImgclassError
from imgclass.pretrained.predict import (collect_images, fit_to_model, format_results, predict_images,
                                         read_for_model, top_k)
from tests.pretrained.conftest import BrightnessPredictor

CATS = {"tabby", "tiger cat", "Egyptian cat"}  # chelsea is a tabby; ImageNet splits tabbies over these three


def _save(path, array, mode=None, **kw):
    Image.fromarray(array, mode).save(path, **kw) if mode else Image.fromarray(array).save(path, **kw)
    return path


def _ramp(h=40, w=60):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 4, yy * 6, np.full_like(xx, 90)], axis=-1).astype(np.uint8)


# --------------------------------------------------------------------------- the real model on real photos


def test_chelsea_is_a_cat_and_coffee_is_espresso(imagenet, photos):
    r = predict_images([photos / "chelsea.png", photos / "coffee.jpg"], imagenet, top=5)
    assert r["predicted"] == 2 and r["failed"] == 0
    cat, coffee = (x["predictions"] for x in r["results"])
    assert cat[0]["class"] in CATS
    assert sum(p["probability"] for p in cat if p["class"] in CATS) > 0.8
    assert coffee[0]["class"] == "espresso" and coffee[0]["probability"] > 0.5
    assert {"cup", "coffee mug"} & {p["class"] for p in coffee}
    for preds in (cat, coffee):
        probs = [p["probability"] for p in preds]
        assert probs == sorted(probs, reverse=True) and [p["rank"] for p in preds] == [1, 2, 3, 4, 5]


def test_imagenet_preprocessing_matches_the_weights(imagenet, photos):
    import torch

    x = read_for_model(photos / "coffee.jpg", imagenet)
    assert x.shape == (3, 224, 224) and x.dtype == np.uint8
    p = imagenet.predict_proba(x[None])
    assert p.shape == (1, 1000) and np.isclose(p.sum(), 1, atol=1e-4)
    # (x - 127) / 128 (TF-Lite) fits these weights better than torchvision's ImageNet mean/std would
    assert imagenet.mean == 127.0 and imagenet.std == 128.0
    t = torch.from_numpy(x[None].copy()).float() / 255
    t = (t - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    with torch.no_grad():
        p_other = torch.softmax(imagenet.model(t), dim=1).numpy()
    espresso = imagenet.class_names.index("espresso")
    assert p[0, espresso] > p_other[0, espresso] + 0.05


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "I;16", "P"])
def test_odd_modes_of_a_real_photo_still_classified(imagenet, photos, tmp_path, mode):
    img = Image.open(photos / "coffee.jpg").convert("RGB")
    if mode == "I;16":
        a16 = (np.asarray(img.convert("L"), dtype=np.uint16) * 257)
        p = tmp_path / "coffee16.png"
        Image.fromarray(a16).save(p)
        with Image.open(p) as check:
            assert check.mode.startswith("I")  # really a 16-bit file
    else:
        p = tmp_path / ("coffee.jpg" if mode == "CMYK" else "coffee.png")
        img.convert(mode).save(p)
    r = predict_images([p], imagenet, top=5)
    assert r["predicted"] == 1, r["results"]
    classes = [q["class"] for q in r["results"][0]["predictions"]]
    assert "espresso" in classes[:3], classes


def test_batch_with_bad_files_still_predicts_the_others(imagenet, photos, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a JPEG")
    r = predict_images([photos / "chelsea.png", bad, tmp_path / "missing.png", photos / "coffee.jpg"], imagenet,
                       batch_size=2)
    assert (r["predicted"], r["failed"]) == (2, 2)
    by_path = {x["path"]: x for x in r["results"]}
    assert by_path[str(photos / "chelsea.png")]["predictions"][0]["class"] in CATS
    assert by_path[str(photos / "coffee.jpg")]["predictions"][0]["class"] == "espresso"
    assert "notes.jpg" in by_path[str(bad)]["error"] and "not an image" in by_path[str(bad)]["error"]
    assert "no such file" in by_path[str(tmp_path / "missing.png")]["error"]


# --------------------------------------------------------------------------- converting odd files


def test_grayscale_becomes_three_equal_channels(tmp_path):
    g = (np.arange(16 * 16).reshape(16, 16) % 256).astype(np.uint8)
    x = read_for_model(_save(tmp_path / "g.png", g, "L"), BrightnessPredictor((3, 16, 16)))
    assert x.shape == (3, 16, 16)
    np.testing.assert_array_equal(x[0], g)
    np.testing.assert_array_equal(x[0], x[1])
    np.testing.assert_array_equal(x[1], x[2])


def test_rgb_becomes_gray_for_a_grayscale_model(tmp_path):
    x = read_for_model(_save(tmp_path / "c.png", _ramp(16, 16)), BrightnessPredictor((1, 8, 8)))
    assert x.shape == (1, 8, 8) and x.dtype == np.uint8


def test_transparent_pixels_become_white(tmp_path):
    a = np.zeros((16, 16, 4), np.uint8)
    a[:8, :, :] = (255, 0, 0, 255)  # top half opaque red, bottom half fully transparent black
    x = read_for_model(_save(tmp_path / "t.png", a, "RGBA"), BrightnessPredictor((3, 16, 16)))
    np.testing.assert_array_equal(x[:, 0, 0], [255, 0, 0])
    np.testing.assert_array_equal(x[:, -1, -1], [255, 255, 255])


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    img = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    p = tmp_path / "red.jpg"
    img.save(p, quality=95)
    x = read_for_model(p, BrightnessPredictor((3, 16, 16)))
    assert x[0].mean() > 230 and x[1].mean() < 25 and x[2].mean() < 25


def test_16_bit_png_is_rescaled_not_clipped(tmp_path):
    a = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 256)  # 0 .. 65280
    p = tmp_path / "deep.png"
    Image.fromarray(a).save(p)
    x = read_for_model(p, BrightnessPredictor((1, 16, 16)))
    expected = np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(x[0], expected)
    assert x.max() > 250  # a plain cast would have saturated almost everything at 255


# --------------------------------------------------------------------------- refusing bad files


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_file_is_refused_and_named(tmp_path, stub, fmt, suffix):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, fmt)
    p = tmp_path / f"cut{suffix}"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    r = predict_images([p], stub)
    assert r["predicted"] == 0 and r["failed"] == 1
    assert f"cut{suffix}" in r["results"][0]["error"]


@pytest.mark.parametrize("limit", [1000, 6000])  # 100x100 px: over 2x the limit (error) / over it (warning)
def test_decompression_bomb_is_refused(tmp_path, stub, monkeypatch, limit):
    p = _save(tmp_path / "bomb.png", np.zeros((100, 100, 3), np.uint8))
    ok = _save(tmp_path / "small.png", np.zeros((20, 20, 3), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    r = predict_images([p, ok], stub)
    assert "bomb.png" in r["results"][0]["error"] and "too many pixels" in r["results"][0]["error"]
    assert r["results"][1]["predictions"][0]["class"] == "dark"


def test_not_an_image_and_empty_file(tmp_path, stub):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_text("<html>not a png</html>")
    r = predict_images([tmp_path / "a.png", tmp_path / "b.png"], stub)
    assert r["failed"] == 2 and all("not an image" in x["error"] for x in r["results"])


def test_unexpected_decoder_exception_is_one_bad_file(tmp_path, stub, monkeypatch):
    import imgclass.pretrained.predict as predict

    good = _save(tmp_path / "good.png", np.full((8, 8, 3), 200, np.uint8))
    weird = _save(tmp_path / "weird.png", np.full((8, 8, 3), 200, np.uint8))
    real = predict.read_for_model

    def flaky(path, predictor):
        if path.name == "weird.png":
            raise IndexError("decoder bug")
        return real(path, predictor)

    monkeypatch.setattr(predict, "read_for_model", flaky)
    r = predict_images([weird, good], stub)
    assert "IndexError" in r["results"][0]["error"] and r["results"][1]["predictions"][0]["class"] == "bright"


# --------------------------------------------------------------------------- folders, batches, top-k


def test_folder_input_recursive_sorted_images_only(tmp_path, stub):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    _save(tmp_path / "b.png", np.full((8, 8, 3), 250, np.uint8))
    _save(tmp_path / "a.jpg", np.full((8, 8, 3), 10, np.uint8))
    _save(tmp_path / "sub" / "c.PNG", np.full((8, 8, 3), 250, np.uint8))
    _save(tmp_path / ".hidden" / "d.png", np.full((8, 8, 3), 250, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image suffix: ignored in folders")
    files, errors = collect_images([tmp_path])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.jpg", "b.png", "sub/c.PNG"] and not errors
    r = predict_images([tmp_path], stub)
    assert [x["predictions"][0]["class"] for x in r["results"]] == ["dark", "bright", "bright"]


def test_empty_folder_is_an_error_entry(tmp_path, stub):
    (tmp_path / "empty").mkdir()
    r = predict_images([tmp_path / "empty"], stub)
    assert r["predicted"] == 0 and "holds no image files" in r["results"][0]["error"]


def test_batches_give_the_same_results_as_one_at_a_time(tmp_path):
    rng = np.random.default_rng(0)
    paths = [_save(tmp_path / f"{i}.png", rng.integers(0, 256, (10 + i, 12, 3), dtype=np.uint8)) for i in range(7)]
    one, three = BrightnessPredictor(), BrightnessPredictor()
    r1 = predict_images(paths, one, batch_size=1)
    r3 = predict_images(paths, three, batch_size=3)
    assert one.calls == [1] * 7 and three.calls == [3, 3, 1]
    assert r1["results"] == r3["results"]


def test_top_k_is_clamped_and_validated(tmp_path, stub):
    p = _save(tmp_path / "x.png", np.full((8, 8, 3), 200, np.uint8))
    r = predict_images([p], stub, top=10)
    assert r["top_k"] == 2 and len(r["results"][0]["predictions"]) == 2
    with pytest.raises(ImgclassError, match="top-k"):
        predict_images([p], stub, top=0)


def test_top_k_order_and_ties():
    proba = np.array([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    out = top_k(proba, ["a", "b", "c"], 2)
    assert [p["class"] for p in out[0]] == ["b", "c"] and [p["class"] for p in out[1]] == ["a", "b"]


def test_center_crop_geometry():
    x = np.zeros((3, 100, 200), np.uint8)
    x[:, :, 50:150] = 255  # a white square in the middle of a wide black image
    y = fit_to_model(x, (32, 32), crop_fraction=1.0, resample="bilinear")
    assert y.shape == (3, 32, 32) and y.min() == 255  # largest centered square = exactly the white part
    z = fit_to_model(x, (32, 32), crop_fraction=0.5, resample="bicubic")
    assert z.min() == 255
    s = fit_to_model(x, (32, 32))  # no crop: the whole image squeezed, black sides included
    assert s.shape == (3, 32, 32) and s[:, :, 0].max() == 0 and s[:, :, 16].min() == 255


def test_annotated_pngs_unique_names(tmp_path, stub):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pa = _save(tmp_path / "a" / "cat.png", np.full((20, 30, 3), 30, np.uint8))
    pb = _save(tmp_path / "b" / "cat.png", np.full((20, 30, 3), 220, np.uint8))
    r = predict_images([pa, pb], stub, annotate_dir=tmp_path / "out")
    written = [x["annotated"] for x in r["results"]]
    assert [p.rsplit("/", 1)[-1] for p in written] == ["cat.png", "cat-2.png"]
    for p in written:
        with Image.open(p) as img:
            assert img.format == "PNG" and img.width > 300


def test_format_results_table(tmp_path, stub):
    p = _save(tmp_path / "x.png", np.full((8, 8, 3), 200, np.uint8))
    (tmp_path / "bad.png").write_text("nope")
    text = format_results(predict_images([p, tmp_path / "bad.png"], stub))
    assert "rank  probability  class" in text and "bright" in text
    assert "bad.png" in text and "1 image(s) classified, 1 failed" in text


@pytest.mark.parametrize("crop, resample", [(None, "bicubic"), (0.875, "bicubic"), (0.5, "bilinear")])
def test_large_jpeg_any_crop_and_resampling(tmp_path, crop, resample):
    p = _save(tmp_path / "big.jpg", np.full((900, 1200, 3), 200, np.uint8), quality=90)  # decoded at reduced scale
    x = read_for_model(p, BrightnessPredictor((3, 20, 30), crop_fraction=crop, resample=resample))
    assert x.shape == (3, 20, 30) and abs(int(x.mean()) - 200) <= 2
