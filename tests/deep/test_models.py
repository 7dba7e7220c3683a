"""Torch models from a spec: shapes, the ResNet, seeding without global side effects."""

import pytest
import torch
from torch.nn import functional as F

from imgclass.deep import BasicBlock, ResNet, build_torch, torch_twin
from imgclass.errors import ImgclassError
from imgclass.modelspec import PRESETS, ModelSpec, build_numpy


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_maps_images_to_class_scores(name, shape):
    model = build_torch(PRESETS[name], shape, 10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *shape)).shape == (2, 10)


def test_resnet_depth_and_block_shapes():
    assert build_torch(PRESETS["resnet8"], (3, 32, 32), 10).depth == 8
    assert build_torch(PRESETS["resnet20"], (3, 32, 32), 10).depth == 20
    block = BasicBlock(8, 16, stride=2)
    assert block(torch.randn(2, 8, 7, 7)).shape == (2, 16, 4, 4)  # ceil(7 / 2)
    assert len(BasicBlock(8, 8).shortcut) == 0  # identity shortcut when shapes agree
    with pytest.raises(ImgclassError, match="one width per stage"):
        ResNet(3, 10, blocks=(1, 1), widths=(8,))


def test_resnet_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = build_torch(ModelSpec(kind="resnet", blocks=(1, 1), widths=(8, 16)), (1, 16, 16), 4, seed=0)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 1, 16, 16, generator=gen), torch.arange(16) % 4
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.7 * losses[0], losses


def test_seeds_decide_the_weights_and_leave_the_global_rng_alone():
    for spec in (PRESETS["resnet8"], PRESETS["cnn-small"]):
        state = torch.random.get_rng_state()
        a, b = build_torch(spec, (1, 28, 28), 10, seed=0), build_torch(spec, (1, 28, 28), 10, seed=0)
        c = build_torch(spec, (1, 28, 28), 10, seed=1)
        assert torch.equal(state, torch.random.get_rng_state())
        pa, pb, pc = (list(m.parameters()) for m in (a, b, c))
        assert all(torch.equal(u, v) for u, v in zip(pa, pb))
        assert not torch.equal(pa[0], pc[0])


def test_twin_has_the_numpy_layers_in_order():
    net = build_numpy(PRESETS["cnn-dropout"], (1, 28, 28), 10).net
    twin = torch_twin(net)
    assert [type(m).__name__ for m in twin] == [
        "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d",
        "Flatten", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert twin[0].bias is None and twin[10].bias is not None  # conv before batchnorm has no bias
    assert [type(m).__name__ for m in torch_twin(build_numpy(ModelSpec(kind="linear"), (4,), 2).net)] == \
        ["Flatten", "Linear"]


def test_build_torch_errors():
    with pytest.raises(ImgclassError, match="needs images"):
        build_torch(PRESETS["resnet8"], (784,), 10)
    with pytest.raises(ImgclassError, match="expected a ModelSpec"):
        build_torch("cnn", (1, 28, 28), 10)
