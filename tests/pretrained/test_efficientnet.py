"""EfficientNet-Lite0: architecture, strict loading of the published weights, ImageNet class names."""

from __future__ import annotations

import pytest
import torch

from imgclass.errors import ImgclassError
from imgclass.pretrained.efficientnet import (EfficientNetLite, efficientnet_lite0, imagenet_classes, same_padding,
                                              weights_path)


def test_weights_load_strictly_into_our_architecture():
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite()
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(model.state_dict()) == set(state)
    assert all(model.state_dict()[k].shape == v.shape for k, v in state.items())


def test_architecture_is_lite0():
    model = efficientnet_lite0(pretrained=False)
    assert sum(p.numel() for p in model.parameters()) == 4_652_008  # EfficientNet-Lite0's published 4.65M
    assert len(model._blocks) == 16
    assert not any("se" in name.split(".")[-2:] for name, _ in model.named_parameters())  # no squeeze-excite
    assert not model.training


def test_loaded_model_is_in_eval_mode_and_deterministic(imagenet):
    model = imagenet.model  # efficientnet_lite0(), loaded once per session
    assert not model.training
    x = torch.zeros(1, 3, 224, 224)
    with torch.no_grad():
        a, b = model(x), model(x)
    assert a.shape == (1, 1000)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("size", [64, 65, 97])  # even and odd sizes: SAME padding adapts
def test_any_input_size_gives_1000_logits(size):
    with torch.no_grad():
        out = efficientnet_lite0(pretrained=False)(torch.zeros(1, 3, size, size))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (224, 3, 2, (0, 1)),  # TensorFlow SAME: the extra row goes after, unlike PyTorch's symmetric padding=1
    (112, 5, 2, (1, 2)),
    (225, 3, 2, (1, 1)),
    (56, 3, 1, (1, 1)),
    (14, 5, 1, (2, 2)),
    (7, 1, 1, (0, 0)),
])
def test_same_padding_matches_tensorflow(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


def test_1000_distinct_readable_class_names():
    names = imagenet_classes()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert all(n and n == n.strip() and not n.startswith("n0") for n in names)  # names, not WordNet ids
    assert names[0] == "tench" and names[1] == "goldfish" and names[2] == "great white shark"
    assert names[281] == "tabby" and names[285] == "Egyptian cat" and names[967] == "espresso"
    assert names[999] == "toilet tissue"


def test_corrupt_weights_file_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.pth"
    p.write_bytes(b"not a checkpoint")
    with pytest.raises(ImgclassError, match="bad.pth"):
        efficientnet_lite0(path=p)


def test_wrong_weights_are_refused(tmp_path):
    p = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, p)
    with pytest.raises(ImgclassError, match="not EfficientNet-Lite0 weights"):
        efficientnet_lite0(path=p)
