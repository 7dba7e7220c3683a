"""Optimizer pieces of the fast CIFAR-10 recipe: Muon for conv filters, lookahead of the weights, the triangle schedule.

- :class:`Muon`: momentum SGD whose update of each filter bank (F, C, KH, KW) is orthogonalized
  by a Newton–Schulz iteration (every singular value of the update mapped to about 1), after
  Keller Jordan's Muon write-up. Filters feed batchnorm, so their scale is free: each step renormalizes
  a bank to norm sqrt(F), which takes the place of weight decay.
- :class:`Lookahead`: every ``k`` steps the weights are pulled to a slow copy and the slow copy
  toward them, with a pull that grows as (progress)³, so it acts late in training like an average of
  the last weights; :meth:`Lookahead.finish` leaves the slow weights in the model.
- :func:`triangle`: the learning-rate factor that rises linearly from ``start`` to 1 over the first
  ``warmup`` of the run, then falls linearly to ``end``.

Written for imgclass from those public ideas; state dicts make every piece resumable.
"""

from __future__ import annotations

import torch


def newton_schulz(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """An approximately orthogonal matrix with the singular vectors of ``g`` (M, N): a quintic Newton–Schulz
    iteration on ``g / ||g||`` (coefficients chosen to push every singular value quickly toward ~1)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g / (g.norm() + 1e-7)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    for _ in range(steps):
        s = x @ x.T
        x = a * x + (b * s + c * s @ s) @ x
    return x.T if tall else x


class Muon(torch.optim.Optimizer):
    """Nesterov momentum SGD with orthogonalized updates, for conv filter banks (F, C, KH, KW).

    Parameters
    ----------
    params : the filter banks
    lr : float
        Step size of the orthogonalized update (scheduled like any torch optimizer's ``lr``).
    momentum : float
    nesterov : bool
    ns_steps : int
        Newton–Schulz iterations.
    """

    def __init__(self, params, lr: float = 0.08, momentum: float = 0.6, nesterov: bool = True, ns_steps: int = 5):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                buf = state["momentum_buffer"].mul_(group["momentum"]).add_(p.grad)
                g = p.grad.add(buf, alpha=group["momentum"]) if group["nesterov"] else buf
                update = newton_schulz(g.reshape(len(g), -1).float(), group["ns_steps"]).view_as(p).to(p.dtype)
                p.mul_(len(p) ** 0.5 / p.norm().clamp_min(1e-12))
                p.add_(update, alpha=-group["lr"])


class Lookahead:
    """A slow copy of the floating-point state of ``module``, pulled toward it every ``k`` steps.

    At step ``t`` of ``total`` (a multiple of ``k``): ``slow = d·slow + (1 − d)·fast`` with
    ``d = base**k · (t / total)**3``, then ``fast = slow``.
    """

    def __init__(self, module: torch.nn.Module, k: int = 5, base: float = 0.95):
        self.module, self.k, self.base = module, k, base
        self.slow = [t.detach().clone() for t in self._tensors()]

    def _tensors(self) -> list[torch.Tensor]:
        return [t for t in self.module.state_dict().values() if t.is_floating_point()]

    @torch.no_grad()
    def _pull(self, decay: float) -> None:
        for s, f in zip(self.slow, self._tensors()):
            s.lerp_(f, 1.0 - decay)
            f.copy_(s)

    def step(self, t: int, total: int) -> None:
        """Call after optimizer step ``t`` (1-based) of ``total``."""
        if t % self.k == 0:
            self._pull(self.base ** self.k * (t / total) ** 3)
        if t == total:
            self._pull(1.0)  # the end: the model holds the slow weights

    def state_dict(self) -> dict:
        return {"slow": [s.detach().cpu().clone() for s in self.slow]}

    def load_state_dict(self, state: dict) -> None:
        for s, v in zip(self.slow, state["slow"]):
            s.copy_(torch.as_tensor(v))


def triangle(step: int, total: int, warmup: float = 0.23, start: float = 0.2, end: float = 0.07) -> float:
    """The learning-rate factor at ``step`` of ``total``: ``start`` -> 1 over ``warmup`` of the run, then 1 -> ``end``."""
    t = step / max(total, 1)
    if warmup > 0 and t < warmup:
        return start + (1 - start) * t / warmup
    return 1 + (end - 1) * (t - warmup) / (1 - warmup)
