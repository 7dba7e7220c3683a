"""The fast CIFAR-10 net: shapes, the frozen whitening stem set from data, seeded initialization."""

import torch

from imgclass.deep.fastnet import FastNet, whitening_filters
from imgclass.deep.models import build_torch
from imgclass.modelspec import ModelSpec


def test_the_whitening_filters_whiten_2x2_patches():
    g = torch.Generator().manual_seed(0)
    mix = torch.randn(3, 3, generator=g)
    x = torch.einsum("dc,nchw->ndhw", mix, torch.randn(64, 3, 16, 16, generator=g)).cumsum(-1)  # correlated
    w = whitening_filters(x, eps=0.0)
    assert w.shape == (24, 3, 2, 2) and torch.allclose(w[12:], -w[:12])
    out = torch.nn.functional.conv2d(x, w[:12])  # (N, 12, 15, 15)
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    cov = torch.cov(flat.T.double())
    assert torch.allclose(cov, torch.eye(12, dtype=torch.float64), atol=0.05)


def test_the_net_maps_images_to_class_scores_and_only_the_stem_is_set_from_data():
    net = build_torch(ModelSpec.parse("fast:8,16,16"), (3, 32, 32), 10, seed=1)
    assert isinstance(net, FastNet) and not net.whiten.weight.requires_grad
    again = build_torch(ModelSpec.parse("fast:8,16,16"), (3, 32, 32), 10, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    x = torch.randn(6, 3, 32, 32)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.init_from_data(x)
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, before[k])]
    assert changed == ["whiten.weight"]
    assert net(x).shape == (6, 10)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert "whiten.weight" not in trainable and "groups.0.norm1.weight" not in trainable
    assert "groups.0.norm1.bias" in trainable and "head.weight" in trainable
