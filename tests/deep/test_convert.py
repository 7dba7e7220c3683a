"""Weight copies between the engines: exact round trips, clear errors on mismatch."""

import numpy as np
import pytest
import torch

from imgclass.deep import build_torch, mapping, numpy_to_torch, torch_to_numpy
from imgclass.errors import ImgclassError
from imgclass.modelspec import ModelSpec, build_numpy

SPECS = [
    ModelSpec(kind="linear"),
    ModelSpec(kind="mlp", hidden=(8, 6), batchnorm=True, dropout=0.2),
    ModelSpec(kind="cnn", channels=(4, 6), fc=(7,), batchnorm=True),
    ModelSpec(kind="cnn", channels=(4,), fc=(5,), batchnorm=False, bias=False),
]
SHAPE = (2, 8, 8)


def _train_a_step(module: torch.nn.Module) -> None:
    """Move weights and batchnorm statistics away from their initial values."""
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, *SHAPE, generator=gen), torch.arange(8) % 3
    torch.nn.functional.cross_entropy(module.train()(x), y).backward()
    opt.step()


def _torch_state(module):
    return {k: v.clone() for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.to_text())
def test_round_trip_torch_numpy_torch_is_exact(spec):
    trained = build_torch(spec, SHAPE, 3, seed=1)
    _train_a_step(trained)
    numpy_model = torch_to_numpy(trained, build_numpy(spec, SHAPE, 3, seed=2))
    back = numpy_to_torch(numpy_model, build_torch(spec, SHAPE, 3, seed=3))
    a, b = _torch_state(trained), _torch_state(back)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    trained.eval(), back.eval(), numpy_model.eval()
    x = torch.randn(4, *SHAPE)
    assert torch.equal(trained(x), back(x))
    np.testing.assert_allclose(numpy_model.forward(x.numpy()), trained(x).detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.to_text())
def test_build_torch_starts_from_the_numpy_initial_weights(spec):
    numpy_model, module = build_numpy(spec, SHAPE, 3, seed=4), build_torch(spec, SHAPE, 3, seed=4)
    state, t_state = numpy_model.state_dict(), module.state_dict()
    for p in mapping(numpy_model, module):
        t = t_state[p.torch_name].numpy()
        assert np.array_equal(state[p.numpy_name], t.T if p.transpose else t), p


def test_affine_weights_are_transposed():
    numpy_model = build_numpy(ModelSpec(kind="linear"), (5,), 3)
    module = build_torch(ModelSpec(kind="linear"), (5,), 3)
    assert numpy_model.state_dict()["param/0.w"].shape == (5, 3)
    assert module.state_dict()["1.weight"].shape == (3, 5)
    assert mapping(numpy_model, module)[0].transpose


def test_copies_keep_the_destination_dtype_and_arrays():
    spec = ModelSpec(kind="mlp", hidden=(4,), batchnorm=True)
    numpy_model = build_numpy(spec, (6,), 3, dtype=np.float64)
    arrays = {k: v for k, v in numpy_model.state_dict().items()}
    torch_to_numpy(build_torch(spec, (6,), 3, seed=9), numpy_model)
    assert all(numpy_model.state_dict()[k] is v and v.dtype == np.float64 for k, v in arrays.items())
    module = numpy_to_torch(numpy_model, build_torch(spec, (6,), 3).double())
    assert all(p.dtype == torch.float64 for p in module.parameters())


@pytest.mark.parametrize("numpy_spec, torch_spec, message", [
    (ModelSpec(kind="cnn", channels=(4,), fc=()), ModelSpec(kind="cnn", channels=(5,), fc=()), "differs from torch"),
    (ModelSpec(kind="cnn", channels=(4,), fc=()), ModelSpec(kind="cnn", channels=(4, 4), fc=()), "different layers"),
    (ModelSpec(kind="cnn", channels=(4,), batchnorm=False), ModelSpec(kind="cnn", channels=(4,), batchnorm=False,
                                                                     bias=False), "bias on one side"),
    (ModelSpec(kind="mlp", hidden=(4,)), ModelSpec(kind="mlp", hidden=(4,), dropout=0.5), "different layers"),
    (ModelSpec(kind="mlp", hidden=(4,)), ModelSpec(kind="resnet"), "different layers"),
])
def test_mismatched_models_raise(numpy_spec, torch_spec, message):
    numpy_model = build_numpy(numpy_spec, SHAPE, 3)
    module = build_torch(torch_spec, SHAPE, 3)
    with pytest.raises(ImgclassError, match=message):
        numpy_to_torch(numpy_model, module)
    with pytest.raises(ImgclassError, match=message):
        torch_to_numpy(module, numpy_model)


def test_wrong_input_sizes_and_types_raise():
    spec = ModelSpec(kind="mlp", hidden=(4,))
    with pytest.raises(ImgclassError, match="shape"):
        numpy_to_torch(build_numpy(spec, (6,), 3), build_torch(spec, (7,), 3))
    with pytest.raises(ImgclassError, match="NumPy Classifier"):
        numpy_to_torch(build_torch(spec, (6,), 3), build_torch(spec, (6,), 3))
