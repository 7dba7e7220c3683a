"""Batch augmentation: seeded, per-sample, shape-preserving, resumable bit for bit."""

import io

import pytest
import torch
from torch.nn import functional as F

from imgclass.deep import Augment, color_jitter, random_crop, random_flip
from imgclass.errors import ImgclassError


def _batch(n=16, c=3, h=8, w=8, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_same_seed_same_batches_other_seed_other_batches():
    x = _batch()
    a, b, c = (Augment(crop_padding=2, flip=True, jitter=0.3, seed=s) for s in (3, 3, 4))
    for _ in range(3):
        out_a, out_b, out_c = a(x), b(x), c(x)
        assert torch.equal(out_a, out_b) and not torch.equal(out_a, out_c)
        assert out_a.shape == x.shape and out_a.dtype == x.dtype


def test_flip_mirrors_some_samples_and_keeps_the_others():
    x = _batch(32)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, s.flip(-1)) for o, s in zip(out, x)]
    kept = [torch.equal(o, s) for o, s in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < len(x)


@pytest.mark.parametrize("mode", ["reflect", "zeros"])
def test_crop_keeps_the_shape_and_shifts_the_content(mode):
    x, p = _batch(12, c=2, h=7, w=9), 3
    out = random_crop(x, p, torch.Generator().manual_seed(1), mode)
    assert out.shape == x.shape
    padded = F.pad(x, (p, p, p, p), mode="reflect" if mode == "reflect" else "constant")
    offsets = []
    for n in range(len(x)):  # the test may loop: each output is one window of its padded input
        hits = [(dy, dx) for dy in range(2 * p + 1) for dx in range(2 * p + 1)
                if torch.equal(out[n], padded[n, :, dy:dy + 7, dx:dx + 9])]
        assert hits, f"sample {n} is not a crop of its padded image"
        offsets.append(hits[0])
    assert len(set(offsets)) > 3  # per-sample offsets, not one shift for the batch


def test_jitter_leaves_grayscale_alone_and_changes_rgb():
    gray = _batch(c=1)
    assert torch.equal(Augment(jitter=0.5)(gray), gray)
    rgb = _batch()
    out = Augment(jitter=0.5)(rgb)
    assert out.shape == rgb.shape and not torch.equal(out, rgb) and torch.isfinite(out).all()
    gray_rgb = gray.expand(-1, 3, -1, -1)  # a gray image stays gray: saturation has nothing to act on
    jittered = color_jitter(gray_rgb, 0.5, torch.Generator().manual_seed(0))
    assert torch.allclose(jittered[:, 0], jittered[:, 1], atol=1e-6)
    assert torch.allclose(jittered[:, 1], jittered[:, 2], atol=1e-6)


def test_jitter_on_normalized_batches_is_jitter_on_pixels_normalized():
    x = _batch(seed=5)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    direct = color_jitter(x, 0.4, torch.Generator().manual_seed(2))
    via_norm = color_jitter((x - m) / s, 0.4, torch.Generator().manual_seed(2), mean=mean, std=std)
    assert torch.allclose(via_norm, (direct - m) / s, atol=1e-5)


def test_state_dict_restores_the_next_batch_exactly():
    x = _batch()
    aug = Augment(crop_padding=2, flip=True, jitter=0.2, seed=7)
    aug(x)
    buf = io.BytesIO()
    torch.save(aug.state_dict(), buf)
    expected = [aug(x), aug(x)]
    resumed = Augment(crop_padding=2, flip=True, jitter=0.2, seed=123)
    buf.seek(0)
    resumed.load_state_dict(torch.load(buf))
    assert all(torch.equal(resumed(x), e) for e in expected)


def test_identity_when_nothing_is_on_and_the_input_is_not_modified():
    x = _batch()
    before = x.clone()
    aug = Augment()
    assert not aug.active and torch.equal(aug(x), x)
    Augment(crop_padding=2, flip=True, jitter=0.3)(x)
    assert torch.equal(x, before)


def test_bad_arguments_raise():
    with pytest.raises(ImgclassError, match="float tensor"):
        Augment(flip=True)(torch.zeros(2, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ImgclassError, match="float tensor"):
        Augment(flip=True)(torch.zeros(2, 16))
    with pytest.raises(ImgclassError, match="reflect padding"):
        Augment(crop_padding=4)(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ImgclassError, match="crop padding"):
        Augment(crop_padding=-1)
    with pytest.raises(ImgclassError, match="jitter"):
        Augment(jitter=1.5)
    with pytest.raises(ImgclassError, match="augmentation state"):
        Augment().load_state_dict({"rng": 1})
