"""Multi-process training on torch.distributed, as launched by torchrun.

torchrun starts one process per device and tells each its place through the environment (WORLD_SIZE, RANK,
LOCAL_RANK, MASTER_ADDR/PORT). `session` joins the process group (nccl on CUDA, gloo on CPU) for the length of
a training run; the helpers below are no-ops in a single process, so the trainer calls them unconditionally.
Every rank must reach every collective call in the same order: each decision that ends or skips work (a budget
met, divergence, an interrupt) is taken with `agree`, so all ranks take it together.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from seqgen.data import TBPTTBatches
from seqgen.device import resolve_device
from seqgen.errors import SeqgenError
from seqgen.models import State

TIMEOUT = timedelta(minutes=30)  # a rank that waits longer than this on the others fails instead of hanging


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether this process has joined a process group (inside `session` under torchrun)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank in the group; 0 outside one."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """How many processes train together; 1 outside a group."""
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 of a torchrun launch (before and after the process group too), or a lone process: the one that
    writes checkpoints, metrics and progress."""
    return rank() == 0 if active() else os.environ.get("RANK", "0") == "0"


@contextmanager
def session(device: str = "auto") -> Iterator[torch.device]:
    """This process's device; under torchrun also the process group, joined for the block and left after it
    (on errors too). `auto` and `cuda` mean the GPU numbered LOCAL_RANK."""
    dev = resolve_device(device)
    if not launched() or active():
        yield dev
        return
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    try:
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=TIMEOUT)
    except dist.DistError as e:
        raise SeqgenError(f"cannot join the other training processes ({_cause(e)})") from None
    try:
        yield dev
        dist.barrier()  # leave together: no rank drops its connections while rank 0 still finishes the run
    except RuntimeError as e:  # gloo reports a peer that went away as a plain RuntimeError
        if not isinstance(e, dist.DistError) and "gloo" not in str(e):
            raise
        raise SeqgenError(f"process {rank()} of {world_size()} lost contact with the others ({_cause(e)})") from None
    finally:
        # The run's DistributedDataParallel wrapper holds the process group; if a reference cycle kept it alive
        # past destroy_process_group, gloo's worker threads would be torn down at interpreter exit, where they
        # abort the process ("terminate called without an active exception", seen once in a torchrun test).
        gc.collect()
        dist.destroy_process_group()


def _cause(e: Exception) -> str:
    """The first sentence of a torch.distributed error, without the C++ source location it starts with."""
    return re.sub(r"^\[[^\]]*\]\s*", "", str(e).strip()).split(". ")[0][:160]


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model behind DistributedDataParallel (gradients averaged over ranks in backward); itself when alone."""
    if not active():
        return model
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def vary_dropout(seed: int, step: int) -> None:
    """Give ranks other than 0 their own dropout masks (rank 0 keeps the seeded or resumed generator)."""
    if rank():
        torch.manual_seed((seed * 1_000_003 + rank() * 7919 + step) % 2**63)


def _reduce(values: Sequence[float], op: dist.ReduceOp) -> list[float]:
    if not active():
        return [float(v) for v in values]
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=op)
    return t.tolist()


def agree(flag: bool) -> bool:
    """True on every rank when it is true on any (an all-reduce MAX): how all ranks stop together."""
    return _reduce([float(flag)], dist.ReduceOp.MAX)[0] > 0


def maximum(value: float) -> float:
    """The largest of every rank's value (e.g. the slowest clock, so all ranks read the same elapsed time)."""
    return _reduce([value], dist.ReduceOp.MAX)[0]


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sums over ranks (e.g. validation loss x tokens, and tokens)."""
    return _reduce(values, dist.ReduceOp.SUM)


def mean(value: float) -> float:
    """The mean of every rank's value (e.g. the loss of each rank's equal share of the batch)."""
    return all_reduce_sum([value])[0] / world_size()


def shard(n: int, rank_: int | None = None, world: int | None = None) -> slice:
    """A rank's (default: this one's) contiguous share of n rows; shares differ in size by at most one."""
    r = rank() if rank_ is None else rank_
    w = world_size() if world is None else world
    return slice(r * n // w, (r + 1) * n // w)


def shard_batches(batches: TBPTTBatches, even: bool = False) -> TBPTTBatches:
    """This rank's rows of a batch layout. Training needs `even` shares: DDP averages the ranks' mean losses,
    which is the global batch's mean loss only when every rank holds as many tokens."""
    n, w = batches.batch_size, world_size()
    if even and n % w:
        raise SeqgenError(f"a batch of {n} streams does not split evenly over {w} processes; "
                          f"give a --batch-size that is a multiple of {w}")
    return batches.keep_rows(shard(n))


def gather_rows(state: State | None) -> State | None:
    """The global recurrent state [layers, batch, hidden] from every rank's equal share of the batch rows."""
    if state is None or not active():
        return state
    if isinstance(state, tuple):
        return tuple(_gather(s) for s in state)
    return _gather(state)


def _gather(t: torch.Tensor) -> torch.Tensor:
    parts = [torch.empty_like(t) for _ in range(world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=1)


def take_rows(state: State | None, rows: slice | None = None) -> State | None:
    """These rows (default: this rank's share) of a global recurrent state: the inverse of gather_rows."""
    if state is None:
        return None
    if isinstance(state, tuple | list):
        rows = rows or shard(state[0].size(1))
        return tuple(s[:, rows] for s in state)
    return state[:, rows or shard(state.size(1))]


def launch(nproc: int, args: Sequence[str]) -> int:
    """Run `python -m seqgen train ARGS` as `nproc` processes on this machine through torchrun's own launcher
    (torch.distributed.run); on a CPU each gets an equal share of the cores unless OMP_NUM_THREADS says otherwise.
    Returns the exit code of the first process that failed (each prints its own error), else 0."""
    from torch.distributed import run
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if launched():
        raise SeqgenError("--nproc starts the processes itself; under torchrun leave it out")
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // nproc)))
    try:
        run.main(["--standalone", f"--nproc-per-node={nproc}", "-m", "seqgen", "train", *args])
    except ChildFailedError as e:
        return e.get_first_failure()[1].exitcode or 1
    except SignalException as e:  # the launcher passed SIGTERM on to every process, which saved and said so
        return 128 + int(e.sigval)
    return 0
