"""What long operations (training, reading data, downloads) report to a progress callback. Kept free of torch so
that the command line's progress bars and `seqgen datasets` load without it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Progress:
    """What training reports: `kind` is "data" (input files read: `step` of `total`), "step" (a log
    interval), "eval" (a validation), "note" (a message the user needs, shown even when quiet) or "info" (what
    the run chose, shown with the progress bar)."""

    kind: str
    step: int
    fraction: float
    loss: float | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None
    tokens_per_s: float | None = None
    lr: float | None = None
    message: str = ""
    total: int = 0


ProgressFn = Callable[[Progress], None]
