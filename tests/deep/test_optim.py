"""The fast recipe's optimizer pieces: Newton–Schulz orthogonalization, Muon, lookahead, the triangle schedule."""

import pytest
import torch

from imgclass.deep.optim import Lookahead, Muon, newton_schulz, triangle


@pytest.mark.parametrize("shape", [(8, 27), (27, 8), (16, 16)])
def test_newton_schulz_keeps_the_singular_vectors_and_pulls_the_values_toward_one(shape):
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    x = newton_schulz(g)
    s = torch.linalg.svdvals(x)
    assert s.min() > 0.5 and s.max() < 1.5  # roughly orthogonal (the quintic trades accuracy for speed)
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    m = u.T @ x @ vh.T  # diagonal when x has g's singular vectors
    assert (m - torch.diag(torch.diag(m))).abs().max() < 1e-4


def test_muon_steps_a_filter_bank_by_an_orthogonalized_update_and_keeps_its_norm():
    w = torch.nn.Parameter(torch.randn(8, 3, 3, 3))
    opt = Muon([w], lr=0.1, momentum=0.0, nesterov=False)
    w.grad = torch.randn_like(w)
    before = w.detach().clone()
    opt.step()
    expected = before * (8 ** 0.5 / before.norm()) - 0.1 * newton_schulz(w.grad.reshape(8, -1)).view_as(w)
    assert torch.allclose(w.detach(), expected, atol=1e-6)
    assert len(opt.state_dict()["state"]) == 1  # the momentum buffer, resumable


def test_lookahead_pulls_late_and_leaves_the_slow_weights_in_the_model():
    net = torch.nn.Linear(3, 2)
    la = Lookahead(net, k=5, base=0.95)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    la.step(5, 100)  # early: the pull is 0.95**5 * 0.05**3, almost nothing
    assert torch.allclose(net.weight, start + 1.0, atol=1e-3)
    state = la.state_dict()
    with torch.no_grad():
        net.weight.add_(1.0)
    la.step(100, 100)  # the end: the model holds the slow copy
    assert torch.allclose(net.weight, la.slow[0])
    other = Lookahead(torch.nn.Linear(3, 2))
    other.load_state_dict(state)
    assert torch.allclose(other.slow[0], state["slow"][0])


def test_the_triangle_rises_then_falls_linearly():
    assert triangle(0, 100) == pytest.approx(0.2)
    assert triangle(23, 100) == pytest.approx(1.0)
    assert triangle(100, 100) == pytest.approx(0.07)
    assert triangle(50, 100) == pytest.approx(1 + (0.07 - 1) * (0.5 - 0.23) / 0.77)
