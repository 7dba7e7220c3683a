"""Grad-CAM: the map is the one the gradients of the right layer give, and it points at the object."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from imgclass.cli import main
from imgclass.errors import ImgclassError
from imgclass.explain import class_index, explain_images, grad_cam, last_spatial_layer


def test_the_map_is_grad_cam_of_the_last_feature_map_computed_directly():
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1),
                             nn.ReLU())
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    net = nn.Sequential(features, head).eval()
    x = torch.randn(3, 3, 12, 12)
    classes = [4, 0, 2]
    assert last_spatial_layer(net, x) is features[4]  # the last ReLU: pooling to 1x1 comes after it

    maps, logits = grad_cam(net, x, classes)

    a = features(x).detach().requires_grad_(True)  # the activations, as a leaf of their own graph
    out = head(a)
    grads = torch.autograd.grad(out[torch.arange(3), classes].sum(), a)[0]
    cam = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    cam = nn.functional.interpolate(cam, size=(12, 12), mode="bilinear", align_corners=False)[:, 0]
    cam = cam / cam.flatten(1).amax(1)[:, None, None]
    np.testing.assert_allclose(maps, cam.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(logits, out.detach().numpy(), atol=1e-6)
    assert maps.shape == (3, 12, 12) and maps.min() >= 0 and np.allclose(maps.max(axis=(1, 2)), 1)


def test_a_model_without_a_feature_map_is_a_clear_error():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    with pytest.raises(ImgclassError, match="no convolutional feature map"):
        grad_cam(net, torch.randn(2, 3, 2, 2), [0, 1])


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A real cat (scikit-image's chelsea) on the left half and a real espresso on the right, on gray."""
    from skimage import data

    canvas = np.full((256, 256, 3), 128, np.uint8)
    canvas[64:192, :128] = np.asarray(Image.fromarray(data.chelsea()).resize((128, 128)))
    canvas[64:192, 128:] = np.asarray(Image.fromarray(data.coffee()).resize((128, 128)))
    path = tmp_path_factory.mktemp("pair") / "cat-and-coffee.png"
    Image.fromarray(canvas).save(path)
    return path


def test_the_pretrained_net_looks_at_the_cat_for_cat_and_at_the_cup_for_espresso(pair):
    from imgclass.pretrained.predict import ImageNetPredictor, read_for_model

    predictor = ImageNetPredictor()
    x = read_for_model(pair, predictor)[None]  # (1, 3, 224, 224): the centre 224/256 crop, resized
    espresso = class_index("espresso", predictor.class_names)
    maps, probs = explain_images(predictor, np.repeat(x, 2, axis=0), [None, espresso])
    assert "cat" in predictor.class_names[int(np.argmax(probs[0]))]
    left, right = (slice(40, 184), slice(0, 112)), (slice(40, 184), slice(112, 224))
    cat_map, cup_map = maps
    assert cat_map[left].mean() > 3 * cat_map[right].mean()
    assert cup_map[right].mean() > 3 * cup_map[left].mean()
    assert np.unravel_index(np.argmax(cat_map), cat_map.shape)[1] < 112  # the hottest point lies on the cat
    assert np.unravel_index(np.argmax(cup_map), cup_map.shape)[1] >= 112


def test_predict_explain_writes_overlays_and_refuses_what_it_cannot_explain(pair, tmp_path, capsys):
    assert main(["predict", str(pair), "--explain", str(tmp_path / "x"), "--explain-class", "espresso",
                 "--json"]) == 0
    assert (tmp_path / "x" / "cat-and-coffee-gradcam.png").is_file()
    assert "Grad-CAM:" in capsys.readouterr().out
    assert main(["predict", str(pair), "--explain", str(tmp_path / "x"), "--explain-class", "no such thing"]) == 1
    assert "is not one of the model's 1000 classes" in capsys.readouterr().err
    assert main(["predict", str(pair), "--explain-class", "espresso"]) == 1
    assert "--explain-class needs --explain DIR" in capsys.readouterr().err
    assert main(["linear", "train", "--dataset", "digits", "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
    run = next((tmp_path / "runs").iterdir())
    capsys.readouterr()
    assert main(["predict", str(pair), "--run", str(run), "--explain", str(tmp_path / "y")]) == 1
    assert "Grad-CAM explains torch conv nets" in capsys.readouterr().err


def test_evaluate_adds_grad_cam_of_the_most_confident_mistakes_for_conv_nets(tmp_path, capsys):
    assert main(["train", "--dataset", "digits", "--model", "cnn:8;fc=16", "--epochs", "1", "--out",
                 str(tmp_path), "--no-progress"]) == 0
    run = next(tmp_path.iterdir())
    assert main(["evaluate", str(run)]) == 0
    assert (run / "plots" / "gradcam_mistakes.png").is_file()
    assert "gradcam_mistakes.png" in capsys.readouterr().out
