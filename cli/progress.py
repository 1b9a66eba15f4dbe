"""Draws the library's progress callbacks as tqdm bars on stderr: reading data, then training."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from tqdm import tqdm

if TYPE_CHECKING:
    from seqgen.progress import Progress


class ProgressBar:
    """Callable passed as `progress=` to seqgen.train; shows files read, then loss, validation loss, tokens/s.

    A bar appears with the first report of its kind. The reading bar is drawn only once reading has taken
    `read_delay_s`, stays up until training starts, and is cleared by `close(failed=True)`: a run that fails on its
    input prints only the error."""

    def __init__(self, enabled: bool = True, read_delay_s: float = 1.0):
        self.enabled = enabled
        self.read_delay_s = read_delay_s
        self.bar: tqdm | None = None
        self.reading: tqdm | None = None
        self.read_start = 0.0
        self.post: dict[str, str] = {}

    def __call__(self, p: Progress) -> None:
        if p.kind == "data":
            self._reading(p)
            return
        if p.kind == "note" or (p.kind == "info" and self.enabled):
            tqdm.write(p.message, file=sys.stderr)
            return
        if p.kind == "info":
            return
        self._close_reading()
        if self.bar is None:
            self.bar = tqdm(total=1000, disable=not self.enabled, dynamic_ncols=True, desc="training",
                            bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
        if p.kind == "step":
            self.post.update(step=str(p.step), loss=f"{p.loss:.3f}", tok_s=f"{p.tokens_per_s:,.0f}")
        elif p.kind == "eval" and p.val_loss is not None:
            self.post.update(val=f"{p.val_loss:.3f}")
        self.bar.set_postfix(self.post, refresh=False)
        self.bar.update(max(0, min(1000, int(p.fraction * 1000)) - self.bar.n))

    def _reading(self, p: Progress) -> None:
        """Files read so far: p.step of p.total."""
        if self.reading is not None and (p.total != self.reading.total or p.step < self.reading.n):
            self._close_reading()  # another reading begins: the finished one stays on screen
        if self.reading is None:
            if p.step >= p.total:  # everything came from the cache: no bar needed
                return
            self.reading = tqdm(total=p.total, disable=not self.enabled, dynamic_ncols=True, desc=p.message,
                                unit="file", delay=self.read_delay_s)
            self.read_start = time.monotonic()
        self.reading.update(p.step - self.reading.n)
        # kept open when every file is read: whether it stays on screen depends on training starting
        if p.step >= p.total and time.monotonic() - self.read_start >= self.read_delay_s:
            self.reading.refresh()  # a bar on screen shows the files all read

    def _close_reading(self, keep: bool = True) -> None:
        if self.reading is not None:
            if not keep:
                self.reading.leave = False  # tqdm then wipes the line it drew, if it drew one
            self.reading.close()
            self.reading = None

    def close(self, failed: bool = False) -> None:
        """End the bars; after a failure the reading bar is wiped (it told nothing the error does not)."""
        self._close_reading(keep=not failed)
        if self.bar is not None:
            self.bar.close()
