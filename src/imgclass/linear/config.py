"""Typed configurations of ``imgclass linear train`` and ``imgclass linear sweep``, saved in their runs.

As :class:`~imgclass.train.config.TrainConfig`: unknown keys and bad values are an
:class:`~imgclass.errors.ImgclassError` that names the value, never a silent default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from imgclass.data.splits import check_split_size, check_train_fraction
from imgclass.errors import ImgclassError, check_config_dict
from imgclass.linear.search import check_pair, grid, random_configs
from imgclass.train import recipes

LOSSES = ("svm", "softmax")
SAMPLING = ("replacement", "epochs")
BIAS = ("vector", "trick", "none")
NORMALIZE = ("pixel", "channel", "none")
SEARCHES = ("grid", "random")


def check_numbers(cfg, positive=(), non_negative=()) -> None:
    """Each named field of ``cfg`` is None (left to a recipe) or a finite number, > 0 or >= 0 as listed."""
    for name in (*positive, *non_negative):
        v = getattr(cfg, name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or \
                (v <= 0 if name in positive else v < 0):
            raise ImgclassError(f"{name} must be a finite number {'> 0' if name in positive else '>= 0'}, got {v!r}")


@dataclass
class _Config:
    """The split, features and SGD settings both configs have; from_dict / to_dict / replace."""

    dataset: str = "digits"
    data_options: dict = field(default_factory=dict)
    loss: str = "softmax"
    iters: int = 1500
    batch_size: int = 200
    sampling: str = "replacement"
    val: float | int = 0.1
    train_fraction: float = 1.0
    seed: int = 0
    normalize: str = "pixel"
    gamma: float | None = 1.0
    dtype: str = "float32"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict):
        check_config_dict(cls, d, "linear configuration")
        return cls(**d)

    def replace(self, **changes):
        return self.from_dict({**self.to_dict(), **changes})

    def _check_common(self) -> None:
        choices = {"loss": LOSSES, "sampling": SAMPLING, "normalize": NORMALIZE, "dtype": ("float32", "float64")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ImgclassError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("iters", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ImgclassError(f"{name} must be an integer >= 1, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ImgclassError(f"seed must be an integer, got {self.seed!r}")
        if isinstance(self.gamma, bool) or not isinstance(self.gamma, (int, float)) or \
                not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ImgclassError(f"gamma must be a finite number > 0, got {self.gamma!r}")
        check_train_fraction(self.train_fraction)
        if not isinstance(self.data_options, dict):
            raise ImgclassError(f"data_options must be a dict, got {type(self.data_options).__name__}")
        check_split_size(self.val)


@dataclass
class LinearConfig(_Config):
    """One linear classifier trained by minibatch SGD (:class:`~imgclass.linear.estimators.LinearSVM` or
    :class:`~imgclass.linear.estimators.SoftmaxClassifier`).

    ``lr``, ``reg``, ``iters``, ``batch_size``, ``sampling``, ``bias``, ``lr_decay`` and ``averaging`` are the
    estimator's (``learning_rate``, ``reg``, ``num_iters``, ...); ``val``, ``train_fraction`` (a seeded,
    stratified part of the training split), ``seed``, ``normalize`` and ``gamma`` decide the split and the
    features. ``whiten`` > 0 trains on ZCA-whitened features (:func:`imgclass.data.zca_matrix` with that
    eps) and maps the weights back to the standardized pixels, so the saved model is a linear classifier on
    them as without it; 0 trains on the pixels. ``lr`` or ``reg`` left out (None) are chosen on the validation
    split among the recipe's candidates (:data:`imgclass.train.recipes.LINEAR_SEARCH`, or
    ``LINEAR_SEARCH_WHITENED``) by one batched sweep; ``gamma`` and ``whiten`` left out are the dataset's
    recipe (:data:`imgclass.train.recipes.LINEAR_DATASET`, ``LINEAR_WHITEN``).
    """

    iters: int = recipes.LINEAR["iters"]
    batch_size: int = recipes.LINEAR["batch_size"]
    sampling: str = recipes.LINEAR["sampling"]
    gamma: float | None = None
    whiten: float | None = None
    lr: float | None = None
    reg: float | None = None
    bias: str = "vector"
    lr_decay: float = 1.0
    averaging: float | None = recipes.LINEAR["averaging"]

    def __post_init__(self) -> None:
        if self.gamma is None:
            self.gamma = recipes.linear_gamma(self.dataset)
        if self.whiten is None:
            self.whiten = recipes.linear_whiten(self.loss, self.dataset)
        self._check_common()
        if self.bias not in BIAS:
            raise ImgclassError(f"bias must be one of {', '.join(BIAS)}, got {self.bias!r}")
        check_numbers(self, positive=("lr",), non_negative=("reg", "whiten"))  # whiten 0: no whitening
        if not (isinstance(self.lr_decay, (int, float)) and 0 < self.lr_decay <= 1):
            raise ImgclassError(f"lr_decay must lie in (0, 1], got {self.lr_decay!r}")
        if self.averaging is not None and not (isinstance(self.averaging, (int, float)) and 0 <= self.averaging < 1):
            raise ImgclassError(f"averaging must lie in [0, 1) (or be left out), got {self.averaging!r}")

    @property
    def searched(self) -> list[str]:
        """The hyperparameters left to the validation split (``lr``, ``reg``)."""
        return [name for name in ("lr", "reg") if getattr(self, name) is None]

    def candidates(self) -> list[tuple[float, float]]:
        """The (lr, reg) pairs the validation split chooses from (one pair when both are given)."""
        search = (recipes.LINEAR_SEARCH_WHITENED if self.whiten else recipes.LINEAR_SEARCH)[self.loss]
        lrs = [self.lr] if self.lr is not None else list(np.geomspace(*search["lr"]))
        regs = [self.reg] if self.reg is not None else list(np.geomspace(*search["reg"]))
        return grid(lrs, regs)

    def estimator_params(self, lr: float | None = None, reg: float | None = None) -> dict:
        """The keyword arguments of the estimator this config trains (``lr``/``reg``: the chosen ones)."""
        return dict(learning_rate=self.lr if lr is None else lr, reg=self.reg if reg is None else reg, num_iters=self.iters, batch_size=self.batch_size,
                    sampling=self.sampling, bias=self.bias, dtype=self.dtype, lr_decay=self.lr_decay,
                    averaging=self.averaging, random_state=self.seed)


@dataclass
class LinearSweepConfig(_Config):
    """Many (learning rate, regularization) pairs trained as one batched stack, the best chosen on validation.

    The pairs are ``configs`` when given; otherwise a log-spaced grid (``search="grid"``: ``grid_size``
    points over ``lr_range`` x ``reg_range``, or the explicit ``lrs`` x ``regs``) or ``trials`` log-uniform
    random pairs (``search="random"``, seeded by ``seed``).

    ``whiten`` > 0 sweeps on ZCA-whitened features, as :class:`LinearConfig` trains with it, and the best
    weights are mapped back to the pixels; their learning rates are 10-100x smaller, so ``lr_range`` and
    ``reg_range`` left out (None) are :data:`imgclass.train.recipes.LINEAR_SWEEP_RANGES` for plain or
    whitened features. Unlike ``imgclass linear train``, a sweep applies no dataset recipe (``gamma`` 1,
    ``whiten`` 0) unless asked: it explores the space it is given.
    """

    iters: int = 300  # the inherited field, with the sweep's default
    whiten: float = 0.0
    search: str = "grid"
    lr_range: tuple[float, float] | None = None
    reg_range: tuple[float, float] | None = None
    grid_size: tuple[int, int] = (8, 6)
    lrs: list[float] | None = None
    regs: list[float] | None = None
    trials: int = 30
    configs: list | None = None

    def __post_init__(self) -> None:
        self._check_common()
        check_numbers(self, non_negative=("whiten",))
        if self.whiten is None:
            raise ImgclassError("whiten must be a finite number >= 0 (0: no whitening), got None")
        ranges = recipes.LINEAR_SWEEP_RANGES["whitened" if self.whiten else "pixels"]
        self.lr_range = tuple(ranges["lr"] if self.lr_range is None else self.lr_range)
        self.reg_range = tuple(ranges["reg"] if self.reg_range is None else self.reg_range)
        if self.search not in SEARCHES:
            raise ImgclassError(f"search must be one of {', '.join(SEARCHES)}, got {self.search!r}")
        self.grid_size = tuple(self.grid_size)
        if len(self.grid_size) != 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1
                                           for n in self.grid_size):
            raise ImgclassError(f"grid_size must be two integers >= 1 (learning rates, strengths), "
                                f"got {self.grid_size!r}")
        self.pairs()  # every pair checked now, not after the data is loaded

    def pairs(self) -> list[tuple[float, float]]:
        """The (lr, reg) pairs this sweep trains, in order."""
        if self.configs:
            return [check_pair(c) for c in self.configs]
        if self.search == "random":
            return random_configs(self.trials, self.lr_range, self.reg_range, seed=self.seed)
        lrs = self.lrs or list(np.geomspace(*self.lr_range, self.grid_size[0]))
        regs = self.regs or list(np.geomspace(*self.reg_range, self.grid_size[1]))
        return grid(lrs, regs)

