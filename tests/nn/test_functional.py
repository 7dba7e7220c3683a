"""Every basic layer: numeric gradient (float64) and PyTorch, through the shared helper."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imgclass.errors import ImgclassError
from imgclass.nn import functional as nnf
from tests.nn.layer_check import check_layer


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_affine(rng):
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    errs = check_layer(nnf.affine_forward, nnf.affine_backward, {"x": x, "w": w, "b": b},
                       lambda x, w, b: F.linear(x.reshape(4, -1), w.T, b), bound=1e-9)
    assert errs["dw"] < 1e-9 and "torch_dx" in errs


def test_affine_shape_error(rng):
    with pytest.raises(ImgclassError, match="7 features per sample, weights expect 6"):
        nnf.affine_forward(rng.standard_normal((2, 7)), rng.standard_normal((6, 3)), np.zeros(3))


def test_relu(rng):
    x = rng.standard_normal((5, 7))
    x[np.abs(x) < 0.01] = 0.5  # keep the numeric check away from the kink
    check_layer(nnf.relu_forward, nnf.relu_backward, {"x": x}, lambda x: F.relu(x), bound=1e-9)


def test_flatten(rng):
    check_layer(nnf.flatten_forward, nnf.flatten_backward, {"x": rng.standard_normal((3, 2, 4, 5))},
                lambda x: torch.flatten(x, 1), bound=1e-9)


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_vectors(rng, train):
    x = 3 + 2 * rng.standard_normal((8, 5))
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    rm, rv = rng.standard_normal(5), rng.random(5) + 0.5
    stats = {}

    def fwd(x, gamma, beta):
        stats["m"], stats["v"] = rm.copy(), rv.copy()
        return nnf.batchnorm_forward(x, gamma, beta, stats["m"], stats["v"], train=train, momentum=0.1)

    trm, trv = torch.tensor(rm), torch.tensor(rv)
    check_layer(fwd, nnf.batchnorm_backward, {"x": x, "gamma": gamma, "beta": beta},
                lambda x, gamma, beta: F.batch_norm(x, trm, trv, gamma, beta, training=train, momentum=0.1),
                bound=1e-7)
    # the running statistics move exactly as PyTorch's (unbiased variance, momentum 0.1)
    np.testing.assert_allclose(stats["m"], trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(stats["v"], trv.numpy(), rtol=1e-12)


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_images(rng, train):
    x = 1 + rng.standard_normal((3, 4, 5, 3))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    rm, rv = np.zeros(4), np.ones(4)

    def fwd(x, gamma, beta):
        return nnf.spatial_batchnorm_forward(x, gamma, beta, rm.copy(), rv.copy(), train=train)

    check_layer(fwd, nnf.spatial_batchnorm_backward, {"x": x, "gamma": gamma, "beta": beta},
                lambda x, gamma, beta: F.batch_norm(x, torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64),
                                                    gamma, beta, training=train),
                bound=1e-7)


def test_batchnorm_train_normalizes_and_eval_uses_running(rng):
    x = 5 + 3 * rng.standard_normal((200, 3))
    rm, rv = np.zeros(3), np.ones(3)
    out, _ = nnf.batchnorm_forward(x, np.ones(3), np.zeros(3), rm, rv, train=True, momentum=1.0)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-4)
    out_eval, _ = nnf.batchnorm_forward(x, np.ones(3), np.zeros(3), rm, rv, train=False)
    np.testing.assert_allclose(out_eval.mean(0), 0, atol=1e-12)  # running mean = batch mean at momentum 1


def test_dropout_gradient_and_mask(rng):
    x = rng.standard_normal((50, 40))

    def fwd(x):
        return nnf.dropout_forward(x, 0.3, train=True, rng=np.random.default_rng(5))  # same mask every call

    mask = fwd(x)[1]
    check_layer(fwd, nnf.dropout_backward, {"x": x}, lambda x: x * torch.from_numpy(mask), bound=1e-9)
    kept = mask > 0
    assert abs(kept.mean() - 0.7) < 0.03
    np.testing.assert_allclose(mask[kept], 1 / 0.7)  # inverted: expectation unchanged


def test_dropout_eval_is_identity_and_train_needs_rng(rng):
    x = rng.standard_normal((4, 4))
    out, cache = nnf.dropout_forward(x, 0.5, train=False)
    assert out is x and cache is None
    with pytest.raises(ImgclassError, match="explicit rng"):
        nnf.dropout_forward(x, 0.5, train=True)
    with pytest.raises(ImgclassError, match=r"\[0, 1\)"):
        nnf.dropout_forward(x, 1.0, train=True, rng=rng)
