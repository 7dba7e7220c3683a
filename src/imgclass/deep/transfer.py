"""Transfer learning: the pretrained EfficientNet-Lite0 with a new classifier for a user's classes.

:class:`TransferNet` takes the run's images as the Preprocessor leaves them with ``normalize="none"``
(values in [0, 1], any size, gray or RGB) and does the rest of what the ImageNet weights expect:
gray images repeated to three channels, a bilinear resize to ``size`` x ``size``, and the TF-Lite
scaling ``(x * 255 - 127) / 128``. The new classifier on the 1280 pooled features is ``Linear(1280, K)``, or
with ``hidden`` widths a small MLP: ``[dropout - Linear - ReLU]`` per hidden layer, then dropout and the last
``Linear``.

``finetune="head"``: the backbone is frozen, in evaluation mode for good (its batchnorm statistics
stay ImageNet's, its weights get no gradient), and only the classifier trains; the engine then
computes each image's 1280 pooled features once (:func:`cached_features`, on disk, keyed by the
images' bytes, the backbone and the size) and trains the classifier on them, so a second fit or a
sweep over the head costs seconds. ``finetune="last"``: the same, one block further down: the frozen trunk
(every MBConv block but the last) computes each image's 192 x 7 x 7 maps once (cached the same way, at 224 px),
and the last block, the 1x1 head conv and the classifier train on them, the pretrained two at
:data:`BACKBONE_LR_SCALE` of the rate with ImageNet's batchnorm statistics; it needs thousands of images (on
45,000 CIFAR-10 images, 86.8% validation in 5 epochs against the frozen backbone's 84.8%), and an epoch costs
~1.5 minutes there (2 cores, bfloat16) where the classifier's costs seconds. ``finetune="all"``: every weight trains, the backbone at
:data:`BACKBONE_LR_SCALE` of the learning rate; its batchnorm layers keep normalizing with ImageNet's
running statistics (their scale and shift train), as the Keras transfer-learning guide advises: on a few
hundred images, batch statistics are noisy, and running statistics that move (momentum 0.01, as the
TensorFlow weights were trained) make training and evaluation see different networks. Measured on
CIFAR-10 with 100 images per class (benchmarks/transfer.py): with updating statistics, 51.5% test.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imgclass.errors import ImgclassError
from imgclass.fileio import atomic_write, evict_lru, size_limit

BACKBONE_LR_SCALE = 0.1  # finetune="all": the pretrained layers learn 10x slower than the new classifier
FEATURES = 1280
FINETUNE = ("head", "last", "all")


class TransferNet(nn.Module):
    """EfficientNet-Lite0 -> global average pool -> the new classifier (dropout -> Linear, hidden layers first).

    Parameters
    ----------
    in_channels : 1 or 3
    num_classes : int
    size : int
        Images are resized to ``size`` x ``size`` (bilinear) before the stem.
    dropout : float
        Before each of the new classifier's Linear layers.
    hidden : tuple of int
        The new classifier's hidden widths (``()``: one Linear layer, a linear classifier of the features).
    pretrained : bool
        Start from the ImageNet weights (else from a random initialization).
    finetune : "head", "last" or "all"
    seed : int
        The new classifier's initial weights.
    """

    def __init__(self, in_channels: int, num_classes: int, *, size: int = 224, dropout: float = 0.2,
                 hidden: tuple[int, ...] = (1024,), pretrained: bool = True, finetune: str = "head", seed: int = 0):
        from imgclass.pretrained.efficientnet import efficientnet_lite0

        super().__init__()
        if in_channels not in (1, 3):
            raise ImgclassError(f"EfficientNet takes gray or RGB images, got {in_channels} channels")
        if finetune not in FINETUNE:
            raise ImgclassError(f"finetune must be one of {', '.join(FINETUNE)}, got {finetune!r}")
        self.in_channels, self.size, self.finetune, self.pretrained = in_channels, size, finetune, pretrained
        self.backbone = efficientnet_lite0(pretrained=pretrained)
        self.backbone._fc = nn.Identity()  # ImageNet's classifier is not used
        self.dropout = nn.Dropout(dropout)
        widths = (FEATURES, *hidden)
        layers = []
        for d_in, d_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(d_in, d_out), nn.ReLU(), nn.Dropout(dropout)]
        self.hidden = nn.Sequential(*layers)  # empty: the classifier is one Linear layer
        self.fc = nn.Linear(widths[-1], num_classes)
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in [m for m in layers if isinstance(m, nn.Linear)] + [self.fc]:
                bound = 1 / layer.in_features ** 0.5
                layer.weight.copy_(torch.empty_like(layer.weight).uniform_(-bound, bound, generator=g))
                layer.bias.zero_()
        self.split = len(self.backbone._blocks) - 1 if finetune == "last" else None  # blocks in the frozen trunk
        if self.frozen:
            for p in self.trunk_parameters():
                p.requires_grad_(False)
        self.train()

    @property
    def frozen(self) -> bool:
        """Whether a frozen trunk computes the features the rest trains on (cached once per image)."""
        return self.finetune in ("head", "last")

    def trunk_parameters(self) -> list[nn.Parameter]:
        """The pretrained weights the features depend on: all of the backbone's, or (``last``) the trunk's."""
        if self.split is None:
            return list(self.backbone.parameters())
        tail = {id(p) for p in self.tail_modules().parameters()}
        return [p for p in self.backbone.parameters() if id(p) not in tail]

    def tail_modules(self) -> nn.ModuleList:
        """``last``: the pretrained layers that train on the trunk's maps (the last block, the head conv)."""
        b = self.backbone
        return nn.ModuleList([b._blocks[self.split], b._conv_head, b._bn1])

    def train(self, mode: bool = True) -> "TransferNet":
        super().train(mode)
        if self.frozen:
            self.backbone.eval()  # frozen means frozen: ImageNet's batchnorm statistics, no dropout inside
        if self.finetune != "head":  # fine-tuning: batchnorm keeps normalizing with ImageNet's statistics (its
            # scale and shift train)
            for m in self.backbone.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def backbone_parameters(self) -> list[nn.Parameter]:
        """The pretrained weights that train (at :data:`BACKBONE_LR_SCALE` of the rate)."""
        if self.finetune == "head":
            return []
        return list(self.backbone.parameters()) if self.split is None else list(self.tail_modules().parameters())

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] images (N, C, H, W) -> the backbone's input (N, 3, size, size)."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return (x * 255.0 - 127.0) / 128.0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] -> pooled features (N, 1280), or (``last``) the trunk's maps (N, 192, h, w)."""
        x = self.prepare(x)
        if self.split is not None:
            return self.backbone.trunk(x, self.split)
        return self.backbone.features(x).mean(dim=(2, 3))

    def head(self, f: torch.Tensor) -> torch.Tensor:
        """:meth:`features` -> logits (N, K)."""
        if self.split is not None:
            f = self.backbone.tail(f, self.split).mean(dim=(2, 3))
        return self.fc(self.hidden(self.dropout(f)))

    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one image's :meth:`features`."""
        if self.split is None:
            return (FEATURES,)
        if getattr(self, "_shape", None) is None:
            with torch.no_grad():
                probe = torch.zeros(1, 3, self.size, self.size, device=next(self.parameters()).device)
                self._shape = tuple(self.backbone.trunk(probe, self.split).shape[1:])
        return self._shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def backbone_key(self) -> str:
        """What the features depend on besides the images: the frozen weights, the input size, where the trunk ends.

        A frozen backbone never changes, so its key is computed once (the weights are 13 MB).
        """
        if self.frozen and getattr(self, "_key", None):
            return self._key
        where = "" if self.split is None else f" trunk={self.split}"
        h = hashlib.sha256(f"efficientnet-lite0 size={self.size} channels={self.in_channels}{where}".encode())
        tail = () if self.split is None else {id(m) for m in self.tail_modules()}
        tail = tuple(f"{name}." for name, m in self.backbone.named_modules() if id(m) in tail)
        for name, t in self.backbone.state_dict().items():
            if name.startswith(tail):
                continue  # ``last``: these train, and the trunk's maps do not depend on them
            h.update(name.encode())
            h.update(t.detach().cpu().numpy().tobytes())
        self._key = h.hexdigest()[:16]
        return self._key


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "imgclass" / "features"


CACHE_LIMIT_ENV = "IMGCLASS_FEATURE_CACHE_GB"
CACHE_LIMIT_GB = 8.0  # CIFAR-10's 60,000 images at 224 px and their mirrors: 0.6 GB pooled, 4.5 GB of ``last`` maps


def cache_limit() -> float:
    """The feature cache's size limit in bytes: ``$IMGCLASS_FEATURE_CACHE_GB`` (default 8)."""
    return size_limit(CACHE_LIMIT_ENV, CACHE_LIMIT_GB)


def evict(keep: Path, limit: float) -> None:
    """Delete the least recently used feature files until the cache holds at most ``limit`` bytes; ``keep`` (just
    written) stays.

    A hit refreshes a file's time (:func:`cached_features`), so the files a user keeps training on stay.
    """
    entries = []
    for f in cache_dir().glob("*.npy"):
        try:
            st = f.stat()
        except OSError:
            continue  # removed meanwhile by another run
        entries.append((st.st_mtime, st.st_size, f))
    evict_lru(entries, limit, keep=keep)


def cached_features(net: TransferNet, x: np.ndarray, *, device, batch_size: int = 64, flip: bool = False,
                    progress: bool = False, key: str | None = None) -> np.ndarray:
    """The frozen backbone's features (N, *net.feature_shape()) float32 of images ``x`` (N, C, H, W) in [0, 1]:
    pooled (N, 1280), or the trunk's maps with ``finetune="last"``.

    Read from the cache when these exact images (their bytes), backbone and size were seen before;
    computed in evaluation mode (and written atomically to the cache) otherwise. ``flip``: of the
    mirrored images (for flip test-time augmentation). The cache keeps at most ``$IMGCLASS_FEATURE_CACHE_GB``
    (:func:`cache_limit`): after a write, the least recently used files go first.
    """
    from tqdm.auto import tqdm

    limit = cache_limit()  # a bad limit is an error before the feature pass, not after it

    digest = hashlib.sha256()
    for i in range(0, len(x), 4096):  # in pieces: ``x`` may be images read from disk (data.preprocess.Transformed)
        digest.update(np.ascontiguousarray(x[i:i + 4096], dtype=np.float32).tobytes())
    digest.update(repr(tuple(x.shape)).encode())
    name = f"{key or net.backbone_key()}-{digest.hexdigest()[:24]}{'-flip' if flip else ''}.npy"
    path = cache_dir() / name
    if path.is_file():
        try:
            f = np.load(path, allow_pickle=False)
            if f.shape == (len(x), *net.feature_shape()):
                with contextlib.suppress(OSError):  # a read-only cache is still read
                    os.utime(path)  # recently used: the last to be evicted
                return f
        except (OSError, ValueError):
            pass  # a damaged cache entry is computed again
    out = np.empty((len(x), *net.feature_shape()), np.float32)
    run = feature_runner(net, device, tuple(x.shape[1:]))
    bar = tqdm(total=len(x), desc="features", unit="img", disable=not progress or None, leave=False)
    for i in range(0, len(x), batch_size):
        xb = np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)
        if flip:
            xb = np.ascontiguousarray(xb[..., ::-1])
        out[i:i + len(xb)] = run(xb)
        bar.update(len(xb))
    bar.close()
    try:
        with atomic_write(path) as fh:
            np.save(fh, out)
        evict(keep=path, limit=limit)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return out


class _Features(nn.Module):
    """A TransferNet's images -> pooled features, as a module of its own (what is exported to ONNX)."""

    def __init__(self, net: TransferNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


def feature_runner(net: TransferNet, device, image_shape: tuple[int, int, int]):
    """The frozen backbone (or trunk) as a function ``(N, C, H, W) float32 array -> features``, in evaluation mode.

    ``image_shape`` is (C, H, W) of the images it will be given (the resize to ``net.size`` is in the graph).

    On the CPU it runs in onnxruntime, the net exported once per backbone key (and kept next to the
    feature cache): measured here on 2 cores in batches of 64, EfficientNet-Lite0 features at 187 images/s at
    128 px, 126 at 160 and 65 at 224, against PyTorch's 65, 42 and 18 (fp32; the two agree within 3e-5).
    On CUDA, or when onnxruntime cannot take the net, PyTorch computes them.
    """
    if torch.device(device).type == "cpu":
        session = _onnx_session(net, image_shape)
        if session is not None:
            return lambda xb: session.run(None, {"images": xb})[0]

    def run(xb: np.ndarray) -> np.ndarray:
        was = net.backbone.training
        net.backbone.eval()
        try:
            with torch.inference_mode():
                return net.features(torch.from_numpy(xb).to(device)).float().cpu().numpy()
        finally:
            net.backbone.train(was)

    return run


def _onnx_session(net: TransferNet, image_shape: tuple[int, int, int]):
    """An onnxruntime session of ``_Features(net)`` for images of ``image_shape``, or None (no onnxruntime, or the
    export failed: PyTorch computes the features then). The graph is exported once and kept beside the cache."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    c, h, w = image_shape
    path = cache_dir() / f"{net.backbone_key()}-{c}x{h}x{w}.onnx"
    for _ in range(2):  # a damaged graph on disk is exported again, once
        if not path.is_file() and not _export(net, image_shape, path):
            return None
        try:
            return _session(ort, path.read_bytes())
        except Exception:  # noqa: BLE001 - onnxruntime raises its own exception types
            path.unlink(missing_ok=True)
    return None


def _export(net: TransferNet, image_shape: tuple[int, int, int], path: Path) -> bool:
    import io
    import warnings

    was = net.training
    net.eval()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on the TorchScript-based exporter
            torch.onnx.export(_Features(net), torch.zeros(1, *image_shape), buf, input_names=["images"],
                              output_names=["features"], dynamic_axes={"images": {0: "n"}}, dynamo=False)
        with atomic_write(path) as fh:
            fh.write(buf.getvalue())
    except Exception:  # noqa: BLE001 - an export that fails only costs speed
        return False
    finally:
        net.train(was)
    return True


def _session(ort, model: bytes):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, torch.get_num_threads())
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
