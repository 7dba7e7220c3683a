"""Learning-rate schedules for the NumPy optimizers, written by hand: StepLR, CosineLR, OneCycleLR.

A schedule wraps an optimizer (anything with an ``lr`` attribute, normally an
:class:`imgclass.nn.optim.Optimizer`) and sets ``optimizer.lr`` when it is
built (step 0) and on every ``step()``. Call ``step()`` once per iteration or
once per epoch, your choice; ``total_steps``/``step_size`` count those calls.
Each schedule gives the learning rates of its ``torch.optim.lr_scheduler``
counterpart (tests check 50 steps to 1e-12), computed in closed form
(:meth:`LRSchedule.lr_at`), so it can also be plotted without an optimizer
run.

Typical loop::

    opt = SGD(params, lr=0.1, momentum=0.9)
    sched = CosineLR(opt, total_steps=epochs)
    for epoch in range(epochs):
        ...  # opt.zero_grad(); backward; opt.step() per batch
        sched.step()
"""

from __future__ import annotations

import math

from imgclass.errors import ImgclassError


def _number(cls: str, name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ImgclassError(f"{cls}: {name} must be a number, got {value!r}") from None


def _positive_int(cls: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImgclassError(f"{cls}: {name} must be an integer >= 1, got {value!r}")
    return value


class LRSchedule:
    """Base class: owns the step counter and writes ``optimizer.lr``.

    Parameters
    ----------
    optimizer : Optimizer
        Its ``lr`` when the schedule is built is the base learning rate.

    Attributes
    ----------
    optimizer : Optimizer
    base_lr : float
        ``optimizer.lr`` at construction.
    last_step : int
        How many times ``step()`` has been called (0 right after construction).
    """

    def __init__(self, optimizer):
        cls = type(self).__name__
        if not hasattr(optimizer, "lr"):
            raise ImgclassError(f"{cls}: needs an optimizer with an lr attribute, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = _number(cls, "optimizer.lr", optimizer.lr)
        self.last_step = 0
        self._apply()

    def lr_at(self, step: int) -> float:
        """The learning rate after ``step`` calls of ``step()`` (each schedule defines this)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step and set ``optimizer.lr``."""
        self.last_step += 1
        self._apply()

    def _apply(self) -> None:
        self.optimizer.lr = self.lr_at(self.last_step)

    def state_dict(self) -> dict:
        """``{"schedule": class name, "base_lr": float, "last_step": int}``: plain values to resume from."""
        return {"schedule": type(self).__name__, "base_lr": float(self.base_lr), "last_step": int(self.last_step)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the step counter and base lr, and set ``optimizer.lr`` to match."""
        cls = type(self).__name__
        try:
            name, base_lr, last_step = (state_dict[k] for k in ("schedule", "base_lr", "last_step"))
        except (KeyError, TypeError):
            raise ImgclassError(f"{cls}: not a schedule state_dict (needs schedule, base_lr, last_step)") from None
        if name != cls:
            raise ImgclassError(f"{cls}: state_dict was saved by {name}; build a {name} to load it")
        if isinstance(last_step, bool) or not isinstance(last_step, int) or last_step < 0:
            raise ImgclassError(f"{cls}: last_step must be an integer >= 0, got {last_step!r}")
        self.base_lr, self.last_step = float(base_lr), last_step
        self._apply()


class StepLR(LRSchedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    ``lr = base_lr * gamma ** (step // step_size)``, as ``torch.optim.lr_scheduler.StepLR``.

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int
        Steps between decays, >= 1.
    gamma : float, default 0.1
        Decay factor, > 0.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = _number("StepLR", "gamma", gamma)
        if not self.gamma > 0:
            raise ImgclassError(f"StepLR: gamma must be > 0, got {self.gamma}; use e.g. 0.1")
        super().__init__(optimizer)

    def lr_at(self, step: int) -> float:
        return self.base_lr * self.gamma ** (step // self.step_size)


class CosineLR(LRSchedule):
    """Cosine annealing from the optimizer's lr down to ``min_lr`` over ``total_steps``.

    ``lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * step / total_steps)) / 2``,
    as ``torch.optim.lr_scheduler.CosineAnnealingLR(T_max=total_steps,
    eta_min=min_lr)``. Like torch's, the cosine keeps going past
    ``total_steps`` (the lr rises again), so set ``total_steps`` to the number
    of ``step()`` calls you make.

    Parameters
    ----------
    optimizer : Optimizer
    total_steps : int
        Steps from ``base_lr`` to ``min_lr``, >= 1.
    min_lr : float, default 0.0
        >= 0.
    """

    def __init__(self, optimizer, total_steps: int, min_lr: float = 0.0):
        self.total_steps = _positive_int("CosineLR", "total_steps", total_steps)
        self.min_lr = _number("CosineLR", "min_lr", min_lr)
        if not self.min_lr >= 0:
            raise ImgclassError(f"CosineLR: min_lr must be >= 0, got {self.min_lr}")
        super().__init__(optimizer)

    def lr_at(self, step: int) -> float:
        cos = math.cos(math.pi * step / self.total_steps)
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + cos) / 2


class OneCycleLR(LRSchedule):
    """One-cycle policy (Smith): cosine warm-up to ``max_lr``, then cosine decay far below the start.

    The two-phase cosine schedule of ``torch.optim.lr_scheduler.OneCycleLR``
    (``anneal_strategy='cos', cycle_momentum=False, three_phase=False``): it
    starts at ``max_lr / div_factor``, reaches ``max_lr`` at step
    ``pct_start * total_steps - 1`` and ends at
    ``max_lr / div_factor / final_div_factor`` at step ``total_steps - 1``.
    The optimizer's own lr is ignored (overwritten at construction).
    Stepping more than ``total_steps`` times is an error, as in torch.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float
        Peak learning rate, > 0.
    total_steps : int
        Number of ``step()`` calls in the cycle, >= 1.
    pct_start : float, default 0.3
        Fraction of the cycle spent warming up, in [0, 1].
    div_factor : float, default 25.0
        ``initial_lr = max_lr / div_factor``, > 0.
    final_div_factor : float, default 1e4
        ``min_lr = initial_lr / final_div_factor``, > 0.
    """

    def __init__(self, optimizer, max_lr: float, total_steps: int, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4):
        cls = "OneCycleLR"
        self.max_lr = _number(cls, "max_lr", max_lr)
        self.total_steps = _positive_int(cls, "total_steps", total_steps)
        self.pct_start = _number(cls, "pct_start", pct_start)
        self.div_factor = _number(cls, "div_factor", div_factor)
        self.final_div_factor = _number(cls, "final_div_factor", final_div_factor)
        if not (self.max_lr > 0 and math.isfinite(self.max_lr)):
            raise ImgclassError(f"{cls}: max_lr must be a finite number > 0, got {self.max_lr}")
        if not 0 <= self.pct_start <= 1:
            raise ImgclassError(f"{cls}: pct_start must be in [0, 1], got {self.pct_start}; use e.g. 0.3")
        for name in ("div_factor", "final_div_factor"):
            if not getattr(self, name) > 0:
                raise ImgclassError(f"{cls}: {name} must be > 0, got {getattr(self, name)}")
        self.initial_lr = self.max_lr / self.div_factor
        self.min_lr = self.initial_lr / self.final_div_factor
        super().__init__(optimizer)

    def step(self) -> None:
        if self.last_step >= self.total_steps:
            raise ImgclassError(
                f"OneCycleLR: stepped more than total_steps={self.total_steps} times; "
                "set total_steps to the number of step() calls (e.g. epochs * batches per epoch)"
            )
        super().step()

    @staticmethod
    def _anneal(start: float, end: float, pct: float) -> float:
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)

    def lr_at(self, step: int) -> float:
        # phase ends (as floats, like torch): warm-up, then annealing down
        warm_end = float(self.pct_start * self.total_steps) - 1
        if step <= warm_end and warm_end > 0:
            return self._anneal(self.initial_lr, self.max_lr, step / warm_end)
        span = self.total_steps - 1 - warm_end
        if span <= 0:  # degenerate cycle (torch divides by zero here): no room to anneal
            return self.max_lr if step <= warm_end else self.min_lr
        return self._anneal(self.max_lr, self.min_lr, (step - warm_end) / span)
