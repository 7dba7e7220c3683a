"""Data-parallel training on ``torch.distributed``, launched by ``torchrun``.

``torchrun --nproc-per-node N -m imgclass train ...`` starts N processes; each finds its place from
the environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) and joins one process group (gloo for CPU tensors, NCCL for CUDA ones). What
imgclass does with it (:class:`World` and :mod:`imgclass.train.torch_engine`):

- every process loads the data and builds the same model from the same seed; the model is wrapped
  in ``DistributedDataParallel``, which averages the gradients;
- ``--batch-size`` is the *global* batch: the Trainer draws the same global batch order as one
  process (:meth:`Batches.order`), and rank r takes the r-th contiguous part of each batch
  (:meth:`World.shard`); each part's loss is weighted by its share of the batch, so the averaged
  gradient is the one-process gradient of the whole batch, to float rounding; augmentation draws
  are made for the whole batch and each rank uses its rows, so they match one process too
  (dropout masks and batchnorm statistics are per process, as in any data-parallel training);
- validation and test scores are computed in parts and gathered, so every process sees the same
  metrics and takes the same early-stopping decision;
- rank 0 alone writes the run directory (config, metrics, checkpoints, weights, test evaluation);
  on ``--resume`` it reads the checkpoint and sends it to the others, so the other machines of a
  multi-node run need no shared file system, and the number of processes may change.

A process that dies (killed, out of memory, its machine gone) makes the others' next collective
fail (gloo/NCCL notice the closed connection at once, a hung one after ``IMGCLASS_DIST_TIMEOUT``
seconds); they stop with an :class:`ImgclassError` that says how to resume.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import signal

import numpy as np

from imgclass.errors import ImgclassError

TIMEOUT_ENV = "IMGCLASS_DIST_TIMEOUT"
NO_SEEDS = "--seeds trains its runs one after another in one process; under torchrun launch one run per seed (--seed S)"
DEFAULT_TIMEOUT = 300.0  # seconds a collective (or the rendezvous) may wait for the other processes


def timeout_seconds() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ImgclassError(f"{TIMEOUT_ENV}={text!r}: give the seconds to wait for the other processes, e.g. 60")
    return value


def _env_int(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ImgclassError(f"{name}={text!r} is not a whole number; torchrun sets it, or set it yourself") from None


class World:
    """This process's place among the processes of one training run (one process: rank 0 of 1)."""

    def __init__(self, rank: int = 0, size: int = 1, local_rank: int = 0):
        self.rank, self.size, self.local_rank = rank, size, local_rank

    @property
    def active(self) -> bool:
        """Whether more than one process trains (a process group is up)."""
        return self.size > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"World(rank={self.rank}, size={self.size}, local_rank={self.local_rank})"

    def shard(self, n: int) -> slice:
        """This rank's rows of a batch of ``n``: contiguous, the first ``n % size`` ranks one longer."""
        base, extra = divmod(n, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    # --- collectives (identity in one process) ------------------------------------------
    def broadcast(self, obj):
        """Rank 0's ``obj`` on every rank."""
        if not self.active:
            return obj
        import torch.distributed as dist

        box = [obj if self.leader else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.active:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def sum(self, values: list[float]) -> list[float]:
        """The element-wise sum over ranks of a few numbers."""
        if not self.active:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def lead(self, fn, *args, **kwargs):
        """Run ``fn`` on rank 0 and give its result (or its ImgclassError) to every rank.

        For what only rank 0 may do (open or create the run directory, read a checkpoint): the other
        ranks do not touch the files, and they stop with rank 0's error instead of waiting for it.
        """
        if not self.active:
            return fn(*args, **kwargs)
        outcome = None
        if self.leader:
            try:
                outcome = ("ok", fn(*args, **kwargs))
            except Exception as e:  # noqa: BLE001 - the others must not wait for a result that will not come
                from imgclass.errors import os_error_message

                outcome = ("error", os_error_message(e) if isinstance(e, OSError) else str(e) or type(e).__name__)
                self.broadcast(outcome)
                raise
        outcome = self.broadcast(outcome)
        if outcome[0] == "error":
            raise ImgclassError(f"{outcome[1]} (reported by process 0)")
        return outcome[1]

    def check_same(self, what: str, value) -> None:
        """Refuse to train when the processes disagree about ``value`` (their flags or their data)."""
        if not self.active:
            return
        digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
        digests = self.gather(digest)
        odd = [r for r, d in enumerate(digests) if d != digests[0]]
        if odd:
            raise ImgclassError(f"process(es) {', '.join(map(str, odd))} of {self.size} have different {what} from "
                                "process 0: start every process with the same command and the same data")


_WORLD = World()


def world() -> World:
    """The current process's :class:`World` (rank 0 of 1 until :func:`setup` joined a group)."""
    return _WORLD


def launched() -> bool:
    """Whether the environment asks for more than one process (torchrun sets ``WORLD_SIZE``)."""
    size = _env_int("WORLD_SIZE")
    return size is not None and size > 1


def setup() -> World:
    """Join the process group the environment describes (once); one process when it describes none.

    Raises
    ------
    ImgclassError
        Inconsistent variables (a rank outside the world), or the other processes not reached within
        ``IMGCLASS_DIST_TIMEOUT`` seconds.
    """
    global _WORLD
    if _WORLD.active or not launched():
        return _WORLD
    import torch
    import torch.distributed as dist

    size, rank = _env_int("WORLD_SIZE"), _env_int("RANK")
    local = _env_int("LOCAL_RANK") or 0
    local_size = _env_int("LOCAL_WORLD_SIZE")
    if rank is None:
        raise ImgclassError(f"WORLD_SIZE={size} but RANK is not set: launch with torchrun, or set RANK (0..{size - 1}) "
                            "in every process")
    if not 0 <= rank < size:
        raise ImgclassError(f"RANK={rank} does not fit WORLD_SIZE={size}: ranks go from 0 to {size - 1}")
    if local < 0 or local_size is not None and local >= local_size:
        raise ImgclassError(f"LOCAL_RANK={local} does not fit LOCAL_WORLD_SIZE={local_size}")
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
    if missing:
        raise ImgclassError(f"{' and '.join(missing)} not set: launch with torchrun, or set the address of process 0 "
                            "in every process")
    timeout = timeout_seconds()
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))
    except (RuntimeError, ValueError) as e:  # DistStoreError, DistNetworkError: RuntimeError subclasses
        raise ImgclassError(f"process {rank} of {size} could not form the process group at {where} within {timeout:g} s "
                            f"({_first_line(e)}): start all {size} processes with the same --nnodes/--nproc-per-node "
                            f"and rendezvous address, check that {where} is reachable, or raise {TIMEOUT_ENV}") from None
    _WORLD = World(rank, size, local)
    try:  # every process must agree on the world it joined: a wrong WORLD_SIZE somewhere ends here
        sizes = _WORLD.gather(size)
    except RuntimeError as e:
        raise lost_contact(e) from None
    if len(set(sizes)) != 1:
        raise ImgclassError(f"the processes disagree about WORLD_SIZE ({sizes}): start them all with the same value")
    if threading_main():
        signal.signal(signal.SIGTERM, _terminated)  # torchrun stops the others with SIGTERM when one fails
    return _WORLD


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _terminated(signum, frame):
    raise KeyboardInterrupt("stopped by SIGTERM (torchrun stops every process when one of them fails)")


def shutdown() -> None:
    """Leave the process group (after a run, or when it failed)."""
    global _WORLD
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        with contextlib.suppress(Exception):
            dist.destroy_process_group()
    _WORLD = World()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def is_lost_contact(e: BaseException) -> bool:
    """Whether ``e`` is a collective that failed because another process died, hung or was unreachable."""
    try:
        import torch.distributed as dist

        if isinstance(e, getattr(dist, "DistError", ())):
            return True
    except ImportError:
        return False
    text = str(e)
    return isinstance(e, RuntimeError) and any(s in text for s in ("gloo", "Gloo", "NCCL", "Connection", "Timed out",
                                                                   "timed out", "Socket"))


def lost_contact(e: BaseException, then: str = "") -> ImgclassError:
    w = world()
    return ImgclassError(f"process {w.rank} of {w.size} lost contact with another process of the run "
                         f"({_first_line(e)}): one of them stopped (killed, out of memory, its machine down) or hung "
                         f"for {timeout_seconds():g} s; {then or 'see the other processes output'}")


def gather_rows(w: World, part: np.ndarray) -> np.ndarray:
    """Every rank's rows (in rank order) of an array computed in parts (a rank may have none)."""
    if not w.active:
        return part
    parts = w.gather(part)
    return np.concatenate([p for p in parts if len(p)] or parts[:1])
