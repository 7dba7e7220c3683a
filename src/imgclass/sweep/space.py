"""A search space: which TrainConfig / ModelSpec fields a sweep varies, and over what.

One parameter per entry, written on the command line as ``NAME=KIND:ARGS``::

    lr=loguniform:1e-4:1e-1          float, log-uniform in [1e-4, 1e-1]
    momentum=uniform:0.8:0.99        float, uniform
    epochs=int:2:6                   integer in [2, 6] (a third number is the step: int:32:512:32)
    model.hidden=logint:32:512       integer, log-uniform
    batch_size=categorical:64,128,256  one of the listed values (ints, floats, true/false or words)

``NAME`` is a :class:`~imgclass.train.TrainConfig` field (``lr``, ``weight_decay``,
``batch_size``, ``epochs``, ``optimizer``, ...) or ``model.<field>`` for a
:class:`~imgclass.modelspec.ModelSpec` field of the model being tuned
(``model.hidden=int:32:512`` is one hidden layer of that width;
``model.hidden=categorical:256,128`` is not a list of two layers but two
choices, so write ``"model.hidden": ["512,256", "256"]`` in a file for layer lists).

A space file is a JSON object ``{NAME: SPEC}`` where SPEC is the text after
``=`` above, a list (categorical), or ``{"type": KIND, "low": .., "high": .., "step": ..}``
/ ``{"type": "categorical", "choices": [...]}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.modelspec import KIND_DEFAULTS, ModelSpec
from imgclass.train.config import DEFAULTS, TrainConfig

KINDS = ("loguniform", "uniform", "int", "logint", "categorical")
# Fields that are not hyperparameters of one run: they pick the data or decide the validation split,
# so trials would no longer be compared on the same validation images.
NOT_SEARCHABLE = {
    "dataset": "the dataset is fixed for a sweep (--dataset)",
    "data_options": "data options are fixed for a sweep (--data-dir, ...)",
    "model": "search the model's fields instead, e.g. model.hidden=int:32:512",
    "name": "trials are named trial-<number>",
    "seed": "the seed decides the validation split; trials must share it (use imgclass train --seeds on the best)",
    "val": "the validation split must be the same for every trial",
    "recipe": "start the sweep from a recipe with --recipe; trials vary its settings",
}
_INT_MODEL_FIELDS = ("hidden", "channels", "fc", "blocks", "widths", "kernel")


@dataclass(frozen=True)
class Param:
    """One searched parameter: ``kind`` with bounds ``low``/``high`` (and ``step``) or ``choices``."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: int | None = None
    choices: tuple | None = None

    def __post_init__(self):
        where = f"search space entry {self.name!r}"
        if self.kind not in KINDS:
            raise ImgclassError(f"{where}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "categorical":
            if not self.choices:
                raise ImgclassError(f"{where}: categorical needs at least one value, e.g. categorical:64,128")
            for c in self.choices:
                if c is not None and not isinstance(c, (bool, int, float, str)):
                    raise ImgclassError(f"{where}: choices must be numbers, true/false or words, got {c!r}")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ImgclassError(f"{where}: repeated choices in {list(self.choices)}")
            return
        for bound in (self.low, self.high):
            if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
                raise ImgclassError(f"{where}: bounds must be finite numbers, got {self.low!r} and {self.high!r}")
        if self.kind in ("int", "logint") and not all(float(b).is_integer() for b in (self.low, self.high)):
            raise ImgclassError(f"{where}: {self.kind} bounds must be integers, got {self.low} and {self.high}")
        if self.kind in ("loguniform", "logint") and self.low <= 0:
            raise ImgclassError(f"{where}: {self.kind} needs a low bound > 0, got {self.low}")
        if not self.low < self.high and not (self.kind in ("int", "logint") and self.low == self.high):
            raise ImgclassError(f"{where}: low must be < high, got {self.low} and {self.high}")
        if self.step is not None and (self.kind != "int" or self.step < 1):
            raise ImgclassError(f"{where}: a step is only for int, and must be >= 1")

    def suggest(self, trial) -> Any:
        """This parameter's value for an Optuna ``trial``."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind in ("int", "logint"):
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=self.step or 1,
                                     log=self.kind == "logint")
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.kind == "loguniform")

    def grid(self, points: int) -> list:
        """The values a grid search tries: the choices, or ``points`` (log-)evenly spaced values."""
        if self.kind == "categorical":
            return list(self.choices)
        lo, hi = float(self.low), float(self.high)
        log = self.kind in ("loguniform", "logint")
        values = np.geomspace(lo, hi, points) if log else np.linspace(lo, hi, points)
        if self.kind in ("int", "logint"):
            step = self.step or 1
            ints = [int(lo + round((v - lo) / step) * step) for v in values]
            return sorted({min(max(v, int(lo)), int(hi)) for v in ints})
        return [float(min(max(v, lo), hi)) for v in values]

    def to_text(self) -> str:
        if self.kind == "categorical":
            return f"{self.name}=categorical:{','.join(_fmt(c) for c in self.choices)}"
        step = f":{self.step}" if self.step else ""
        return f"{self.name}={self.kind}:{_fmt(self.low)}:{_fmt(self.high)}{step}"

    def to_dict(self) -> dict:
        if self.kind == "categorical":
            return {"type": "categorical", "choices": list(self.choices)}
        d = {"type": self.kind, "low": self.low, "high": self.high}
        return {**d, "step": self.step} if self.step else d


def _fmt(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _number(text: str, where: str) -> float | int:
    try:
        v = float(text)
    except ValueError:
        raise ImgclassError(f"{where}: expected a number, got {text!r}") from None
    return int(v) if v.is_integer() and "." not in text and "e" not in text.lower() else v


def _choice(text: str):
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_param(text: str) -> Param:
    """``"lr=loguniform:1e-4:1e-1"`` -> ``Param("lr", "loguniform", 0.0001, 0.1)``."""
    name, eq, spec = text.partition("=")
    if not eq or not name.strip():
        raise ImgclassError(f"--space {text!r}: expected NAME=KIND:ARGS, e.g. lr=loguniform:1e-4:1e-1")
    return _from_spec(name.strip(), spec.strip())


def _from_spec(name: str, spec) -> Param:
    where = f"search space entry {name!r}"
    if isinstance(spec, list):
        return Param(name, "categorical", choices=tuple(spec))
    if isinstance(spec, dict):
        unknown = set(spec) - {"type", "low", "high", "step", "choices"}
        if unknown or "type" not in spec:
            raise ImgclassError(f"{where}: expected keys type, low, high (step) or type, choices; got {sorted(spec)}")
        choices = spec.get("choices")
        return Param(name, spec["type"], spec.get("low"), spec.get("high"), spec.get("step"),
                     tuple(choices) if isinstance(choices, list) else choices)
    if not isinstance(spec, str):
        raise ImgclassError(f"{where}: expected text like 'loguniform:1e-4:1e-1', a list or an object, got {spec!r}")
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "categorical":
        return Param(name, kind, choices=tuple(_choice(c) for c in rest.split(",") if c.strip()))
    if kind not in KINDS:
        raise ImgclassError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    parts = rest.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and kind != "int"):
        raise ImgclassError(f"{where}: expected {kind}:LOW:HIGH{'[:STEP]' if kind == 'int' else ''}, got {spec!r}")
    low, high = (_number(p, where) for p in parts[:2])
    step = int(_number(parts[2], where)) if len(parts) == 3 else None
    return Param(name, kind, low, high, step)


def parse_space(entries: list[str] | None = None, file: str | Path | None = None) -> list[Param]:
    """The parameters given by ``--space`` entries and/or a ``--space-file`` (a name given twice is an error)."""
    params: list[Param] = []
    if file is not None:
        path = Path(file)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ImgclassError(f"--space-file {path}: no such file") from None
        except json.JSONDecodeError as e:
            raise ImgclassError(f"--space-file {path}: not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise ImgclassError(f"--space-file {path}: expected a JSON object {{NAME: SPEC}}")
        params += [_from_spec(name, spec) for name, spec in data.items()]
    params += [parse_param(e) for e in entries or []]
    names = [p.name for p in params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ImgclassError(f"search space: {', '.join(twice)} given more than once")
    return params


def space_from_dict(d: dict) -> list[Param]:
    """Inverse of :func:`space_to_dict` (the form stored with a study and in ``sweep.json``)."""
    return [_from_spec(name, spec) for name, spec in d.items()]


def space_to_dict(space: list[Param]) -> dict:
    return {p.name: p.to_dict() for p in space}


def default_space(cfg) -> list[Param]:
    """Learning rate within 10x of the configured one, and weight decay in [1e-6, 1e-2], both log-uniform."""
    return [Param("lr", "loguniform", cfg.lr / 10, cfg.lr * 10), Param("weight_decay", "loguniform", 1e-6, 1e-2)]


def apply(cfg: TrainConfig, params: dict) -> TrainConfig:
    """``cfg`` with the trial's ``params`` set (``model.X`` entries go into the model description)."""
    changes = {k: v for k, v in params.items() if not k.startswith("model.")}
    model = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("model.")}
    if model:
        changes["model"] = ModelSpec.from_dict({**cfg.model.to_dict(), **model}).to_dict()
    return cfg.replace(**changes)


def _field_type(cfg, name: str) -> str:
    """'int', 'float', 'number' (int or float) or 'other' (words, true/false): the values a field takes."""
    if name.startswith("model."):
        field = name.split(".", 1)[1]
        spec = cfg.model
        if field not in KIND_DEFAULTS[spec.kind]:
            raise ImgclassError(f"search space: {name} does not apply to {spec.kind} models; "
                                f"their fields are {', '.join('model.' + f for f in KIND_DEFAULTS[spec.kind])}")
        if field in _INT_MODEL_FIELDS:
            return "int"
        return {"dropout": "float", "init": "number"}.get(field, "other")
    if name not in DEFAULTS:
        raise ImgclassError(f"search space: unknown name {name!r}; use a training setting "
                            f"({', '.join(n for n in DEFAULTS if n not in NOT_SEARCHABLE)}) or model.<field>")
    if name in NOT_SEARCHABLE:
        raise ImgclassError(f"search space: {name} cannot be searched: {NOT_SEARCHABLE[name]}")
    default = DEFAULTS[name]
    if isinstance(default, bool) or default is None or isinstance(default, str):
        return "other"
    return "int" if isinstance(default, int) else "float"


def validate(space: list[Param], cfg) -> None:
    """Raise :class:`ImgclassError` unless every parameter names a searchable field and every bound or choice,
    set on ``cfg``, gives a valid configuration."""
    if not space:
        raise ImgclassError("the search space is empty; give --space NAME=KIND:ARGS or --space-file")
    for p in space:
        kind = _field_type(cfg, p.name)
        if kind == "int" and p.kind in ("uniform", "loguniform"):
            raise ImgclassError(f"search space: {p.name} takes integers; use int:LOW:HIGH, logint:LOW:HIGH "
                                f"or categorical, not {p.kind}")
        if kind == "other" and p.kind != "categorical":
            raise ImgclassError(f"search space: {p.name} takes words or true/false; use categorical:A,B")
        probes = list(p.choices) if p.kind == "categorical" else [p.low, p.high]
        for value in probes:
            try:
                apply(cfg, {p.name: value})
            except ImgclassError as e:
                raise ImgclassError(f"search space: {p.name}={value!r} is not a valid setting: {e}") from None
