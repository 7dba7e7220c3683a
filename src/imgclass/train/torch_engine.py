"""The PyTorch engine: a ``torch.nn.Module`` trained with ``torch.optim`` behind the :class:`~imgclass.train.engines.Engine` protocol.

Device, memory format and mixed precision come from :mod:`imgclass.deep.device` (its rules
are the engine's rules); losses and weight-decay groups from :mod:`imgclass.deep.losses`;
batch augmentation from :mod:`imgclass.deep.augment`. The training set is moved to the
device once as one tensor; minibatches are index lookups on it, and augmentation runs on
whole batches there.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from imgclass.data.preprocess import Transformed
from imgclass.deep.augment import Augment
from imgclass.deep.device import (amp_dtype, autocast, grad_scaler, is_channels_last, prepare_model, resolve_device,
                                  to_device)
from imgclass.deep.losses import decayed_parameters, loss_function
from imgclass.deep.fastnet import FastNet
from imgclass.deep.models import build_torch
from imgclass.deep.optim import Lookahead, Muon, triangle
from imgclass.deep.transfer import BACKBONE_LR_SCALE, TransferNet, cached_features
from imgclass.errors import ImgclassError
from imgclass.train import distributed
from imgclass.train.checkpoint import load_checkpoint, save_checkpoint
from imgclass.train.config import parse_progressive, schedule_steps

WHITEN_IMAGES = 5000  # training images the fast net's whitening stem is computed from


def tta_logits(net: torch.nn.Module, xb: torch.Tensor, *, flip: bool, shift: bool,
               channels_last: bool = False) -> torch.Tensor:
    """The float32 logits of a batch with the test-time views a run asks for.

    ``flip``: the mean with its mirror image's; ``shift``: that, weighted 1/2, plus 1/4 each of the
    batch shifted one pixel up-left and down-right (reflect padding). The engine scores with it, and an
    exported model (:mod:`imgclass.export`) has it in its graph, so both give the same logits.
    """
    def both(z):
        logits = net(z).float()
        return (logits + net(torch.flip(z, dims=[3])).float()) / 2 if flip else logits

    if xb.ndim != 4:
        return net(xb).float()
    logits = both(xb)
    if shift:
        padded = F.pad(xb, (1, 1, 1, 1), mode="reflect")
        up_left, down_right = padded[:, :, :-2, :-2], padded[:, :, 2:, 2:]
        if channels_last:
            up_left = up_left.contiguous(memory_format=torch.channels_last)
            down_right = down_right.contiguous(memory_format=torch.channels_last)
        logits = logits / 2 + both(up_left) / 4 + both(down_right) / 4
    return logits


class _Head(torch.nn.Module):
    """A frozen-backbone TransferNet's classifier as a module of its own (what DDP wraps when only it trains)."""

    def __init__(self, net: TransferNet):
        super().__init__()
        self.net = net

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.head(features)


class TorchEngine:
    """Train ``module`` as ``cfg`` says: optimizer, schedule, EMA of the weights, augmentation, TTA."""

    name = "torch"
    weights_file = "model.pt"

    @classmethod
    def build(cls, cfg, in_shape: tuple[int, ...], num_classes: int, total_steps: int) -> "TorchEngine":
        """The engine with a freshly initialized ``cfg.model`` (seeded by ``cfg.seed``; EfficientNet: pretrained)."""
        return cls(build_torch(cfg.model, in_shape, num_classes, seed=cfg.seed, pretrained=cfg.pretrained,
                               finetune=cfg.finetune), cfg, total_steps)

    def __init__(self, module: torch.nn.Module, cfg, total_steps: int):
        self.cfg = cfg
        self.world = distributed.world()
        self.device = resolve_device(cfg.device)
        if self.world.active and self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", self.world.local_rank)  # one GPU per process of the machine
            torch.cuda.set_device(self.device)
        if getattr(cfg, "sync_bn", False) and self.world.active:
            if self.device.type != "cuda":
                raise ImgclassError("--sync-bn needs CUDA: torch's SyncBatchNorm runs only on GPUs; on CPUs each process "
                                    "normalizes with the statistics of its part of the batch (drop --sync-bn)")
            module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        self.module = prepare_model(module, self.device, channels_last=cfg.channels_last)
        self.channels_last = is_channels_last(self.module)
        self.amp = amp_dtype(self.device, cfg.amp)
        self.scaler = grad_scaler(self.device, self.amp)
        self.loss_fn = loss_function(cfg.loss, label_smoothing=cfg.label_smoothing)
        self.optimizers = self._optimizers(cfg)
        self.optimizer = self.optimizers[0]
        sched = torch.optim.lr_scheduler
        self.schedules = [{
            "constant": lambda o: None,
            "step": lambda o: sched.StepLR(o, schedule_steps(total_steps), 0.1),
            "cosine": lambda o: sched.CosineAnnealingLR(o, total_steps),
            "onecycle": lambda o: sched.OneCycleLR(o, [g["lr"] for g in o.param_groups], total_steps=total_steps,
                                                   pct_start=0.25, cycle_momentum=False),
            "triangle": lambda o: sched.LambdaLR(o, lambda t: triangle(t, total_steps)),
        }[cfg.schedule](o) for o in self.optimizers]
        self.schedule = self.schedules[0]
        self.total_steps, self.steps = total_steps, 0
        self.lookahead = None  # made in bind(), once a data-dependent initialization has set the weights
        self.progressive = parse_progressive(cfg.progressive)
        # EMA: an exponential moving average of the weights, used for every evaluation and saved as the model
        self.ema = copy.deepcopy(self.module).requires_grad_(False) if cfg.ema else None
        self.ema_steps = 0
        self.augment = Augment(crop_padding=cfg.crop_padding, flip=cfg.flip, jitter=cfg.jitter, seed=cfg.seed)
        self.x = self.y = None
        self.streamed = False
        self.net = None  # what a training step calls: the module (or its head), in DistributedDataParallel under torchrun
        # a frozen pretrained backbone and no augmentation but flips: the classifier trains on the backbone's
        # features, computed once per image and once per mirrored image (cached on disk, imgclass.deep.transfer)
        self.on_features = isinstance(module, TransferNet) and module.frozen and not (
            cfg.crop_padding or cfg.jitter or self.progressive or cfg.tta_shift)
        self.x_mirrored = None  # on features with flip: the mirrored training images' features
        self._feature_memo: dict[bool, tuple] = {}  # flip -> (images, features) of the last images scored

    def _optimizers(self, cfg) -> list[torch.optim.Optimizer]:
        """The optimizer of ``cfg`` over the weights (L2) and the rest (biases, batchnorm: lr x norm_lr_scale);
        with ``muon``, Muon takes the conv filter banks and Nesterov SGD everything else."""
        decay, no_decay = decayed_parameters(self.module)  # conv/affine weights; not biases or batchnorm
        filters = [p for p in decay if p.ndim == 4] if cfg.optimizer == "muon" else []
        decay = [p for p in decay if all(p is not f for f in filters)]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay, "lr": cfg.lr},
                  {"params": no_decay, "weight_decay": 0.0, "lr": cfg.lr * cfg.norm_lr_scale}]
        pretrained = {id(p) for p in self.module.backbone_parameters()} if isinstance(self.module, TransferNet) else ()
        if pretrained:  # the pretrained layers that train learn slower
            groups = [{**g, "params": [p for p in g["params"] if (id(p) in pretrained) == back],
                       "lr": g["lr"] * (BACKBONE_LR_SCALE if back else 1.0)} for back in (False, True) for g in groups]
        groups = [g for g in groups if g["params"]]
        if cfg.optimizer in ("sgd", "nesterov", "muon"):
            main = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.optimizer != "sgd")
        elif cfg.optimizer == "adam":
            main = torch.optim.Adam(groups, lr=cfg.lr)
        else:
            main = torch.optim.AdamW(groups, lr=cfg.lr)
        return [main, Muon(filters, lr=cfg.muon_lr)] if filters else [main]

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return to_device(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), self.device,
                         channels_last=self.channels_last)

    def _features(self, x: np.ndarray, flip: bool = False) -> torch.Tensor:
        """The frozen backbone's features of images ``x`` (of their mirror images with ``flip``).

        Kept for the last arrays seen, so the validation set scored at every evaluation point is hashed
        and read from the disk cache once, not once per point.
        """
        memo = self._feature_memo.get(flip)
        if memo is not None and memo[0] is x:
            return memo[1]
        f = torch.from_numpy(cached_features(self.module, x, device=self.device, flip=flip,
                                             progress=len(x) > 2000)).to(self.device)
        self._feature_memo[flip] = (x, f)
        return f

    def bind(self, x_train: np.ndarray, y_train: np.ndarray) -> None:
        """Take the training set: as one tensor on the device, as features, or (streamed) as rows read per batch."""
        self.streamed = isinstance(x_train, Transformed) and not self.on_features
        if self.on_features:
            self.x = self._features(x_train)
            if self.cfg.flip:
                self.x_mirrored = self._features(x_train, flip=True)
        else:
            self.x = x_train if self.streamed else self._tensor(x_train)
        self.y = torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(self.device)
        if isinstance(self.module, FastNet):  # the whitening stem is set from the training images
            self.module.init_from_data(self._rows(np.arange(min(WHITEN_IMAGES, len(self.y)))))
            if self.ema is not None:
                self.ema.load_state_dict(self.module.state_dict())
        if self.cfg.lookahead:
            self.lookahead = Lookahead(self.module)
        net = _Head(self.module) if self.on_features else self.module
        if self.world.active:  # made after the data-dependent initialization: DDP starts from rank 0's weights
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.net = net

    def _rows(self, idx: np.ndarray, index: torch.Tensor | None = None) -> torch.Tensor:
        """Training rows ``idx``: an index lookup on the device (``index``: ``idx`` already there), or (streamed)
        read from disk and sent there."""
        if self.streamed:
            return self._tensor(self.x[idx])
        return self.x[torch.from_numpy(idx).to(self.device) if index is None else index]

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def train_step(self, idx: np.ndarray) -> tuple[float, int]:
        """One step on the global batch ``idx``: its loss and correct count (this process's part of it under torchrun)."""
        n = len(idx)
        part = self.world.shard(n)
        index = torch.from_numpy(idx[part]).to(self.device)
        xb, yb = self._rows(idx[part], index), self.y[index]
        if self.x_mirrored is not None:  # a random flip of the image is a random pick of its mirror's features
            flips = self.augment.flips(len(idx), rows=(part, n)).to(self.device)
            xb = torch.where(flips.view(-1, *[1] * (xb.ndim - 1)), self.x_mirrored[index], xb)
        if self.x.ndim == 4 and not self.on_features:  # images (not a trunk's maps: their flips are the mirrors')
            xb = self.augment(xb, rows=(part, n))
            if self.progressive and self.steps < self.progressive[1] * self.total_steps:
                size = self.progressive[0]  # the early steps at a lower resolution: cheaper
                xb = F.interpolate(xb, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
                xb = xb.contiguous(memory_format=torch.channels_last) if self.channels_last else xb
        self.module.train()
        with autocast(self.device, self.amp):
            logits = self.net(xb)  # (B, K)
            loss = self.loss_fn(logits.float(), yb) if len(yb) else logits.float().sum() * 0.0
        if self.world.active:  # weighted by this part's share: DDP's average of the parts' gradients is the batch's
            loss = loss * (len(yb) * self.world.size / n)
        correct = int((logits.argmax(1) == yb).sum())
        loss_value, correct = self.world.sum([float(loss.detach()) / self.world.size, correct])
        loss_value, correct = float(loss_value), int(correct)
        if not math.isfinite(loss_value):
            return loss_value, 0
        for o in self.optimizers:
            o.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.clip_grad:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.cfg.clip_grad)
        self.scaler.step(self.optimizer)
        for o in self.optimizers[1:]:  # Muon: bf16 or fp32 only, no loss scaling needed
            o.step()
        self.scaler.update()
        for schedule in self.schedules:
            if schedule is not None:
                schedule.step()
        self.steps += 1
        if self.lookahead is not None:
            self.lookahead.step(self.steps, self.total_steps)
        if self.ema is not None:
            self._update_ema()
        return loss_value, correct

    def _update_ema(self) -> None:
        """ema = d·ema + (1 − d)·weights, with d warming up as (1 + t)/(10 + t) to ``cfg.ema``; buffers copied."""
        d = min(self.cfg.ema, (1 + self.ema_steps) / (10 + self.ema_steps))
        self.ema_steps += 1
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.module.parameters()), 1.0 - d)
            for e, b in zip(self.ema.buffers(), self.module.buffers()):
                e.copy_(b)

    @property
    def eval_module(self) -> torch.nn.Module:
        """The network that is evaluated and saved: the EMA of the weights when ``cfg.ema`` is set."""
        return self.ema if self.ema is not None else self.module

    def scores(self, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Evaluation-mode logits, averaged over the test-time views ``tta_flip`` / ``tta_shift`` ask for.

        Batches of ~128 keep conv activations in cache: on 2 CPU cores a small CNN scores 5,000 28x28
        images in 0.4 s this way and in 1.2 s in batches of 1,000.
        """
        if self.world.active and not self.on_features:  # each process scores its part; every one gets all
            return distributed.gather_rows(self.world, self._scores(x[self.world.shard(len(x))], batch_size))
        return self._scores(x, batch_size)

    def _scores(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        net = self.eval_module.eval()
        if self.on_features:  # the frozen backbone's cached features, and its mirror images' for tta_flip
            views = [self._features(x)] + ([self._features(x, flip=True)] if self.cfg.tta_flip else [])
            maps = views[0].ndim > 2  # a trunk's maps (finetune="last"): in batches and autocast, as images;
            # pooled features at once
            with torch.inference_mode(), autocast(self.device, self.amp if maps else None):
                step = batch_size if maps else max(1, len(x))
                logits = [sum(net.head(f[i:i + step]).float() for f in views) / len(views)
                          for i in range(0, max(1, len(x)), step)]  # no images: one empty batch, (0, K) logits
            return torch.cat(logits).cpu().numpy()
        out = []
        with torch.inference_mode(), autocast(self.device, self.amp):
            for i in range(0, len(x), batch_size):
                xb = self._tensor(x[i:i + batch_size])
                out.append(self._views(net, xb).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def _views(self, net: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:
        return tta_logits(net, xb, flip=self.cfg.tta_flip, shift=self.cfg.tta_shift, channels_last=self.channels_last)

    def loss_of(self, scores: np.ndarray, y: np.ndarray) -> float:
        """The training loss (label smoothing included) of given scores, without weight decay."""
        with torch.no_grad():
            return float(self.loss_fn(torch.from_numpy(scores), torch.from_numpy(np.asarray(y, dtype=np.int64))))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        s = self.scores(x)
        return self.loss_of(s, y), float(np.mean(np.argmax(s, axis=1) == y))

    def num_parameters(self) -> int:
        return int(sum(p.numel() for p in self.module.parameters()))

    def model_state(self) -> dict:
        """The evaluated weights (the EMA ones when ``cfg.ema`` is set), on the CPU."""
        return {k: v.detach().cpu().clone() for k, v in self.eval_module.state_dict().items()}

    def load_model_state(self, state: dict) -> None:
        self.module.load_state_dict(state)
        if self.ema is not None:
            self.ema.load_state_dict(state)

    def save_weights(self, path: str | Path) -> Path:
        """The evaluated weights as a ``torch.save`` state dict, atomically."""
        return save_checkpoint(path, self.model_state())

    def load_weights(self, path: str | Path) -> None:
        self.load_model_state(load_checkpoint(path))

    def state_dict(self) -> dict:
        raw = {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}
        state = {"model": raw, "optimizer": self.optimizer.state_dict(),
                 "ema": None if self.ema is None else {"model": self.model_state(), "steps": self.ema_steps},
                 "schedule": None if self.schedule is None else self.schedule.state_dict(),
                 "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                 "augment": self.augment.state_dict(), "steps": self.steps}
        if len(self.optimizers) > 1:
            state["muon"] = {"optimizer": self.optimizers[1].state_dict(),
                             "schedule": None if self.schedules[1] is None else self.schedules[1].state_dict()}
        if self.lookahead is not None:
            state["lookahead"] = self.lookahead.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.load_model_state(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.augment.load_state_dict(state["augment"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"]["model"])
            self.ema_steps = int(state["ema"]["steps"])
        self.steps = int(state.get("steps", 0))  # checkpoints of older runs had no step count
        if len(self.optimizers) > 1:
            self.optimizers[1].load_state_dict(state["muon"]["optimizer"])
            if self.schedules[1] is not None:
                self.schedules[1].load_state_dict(state["muon"]["schedule"])
        if self.lookahead is not None:
            self.lookahead.load_state_dict(state["lookahead"])
