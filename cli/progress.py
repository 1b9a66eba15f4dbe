"""Draws the library's progress callbacks as tqdm bars on stderr: reading data, then training."""

from __future__ import annotations

import sys

from tqdm import tqdm

from seqgen.train import Progress


class ProgressBar:
    """Callable passed as `progress=` to seqgen.train; shows files read, then loss, validation loss, tokens/s.

    A bar appears with the first report of its kind, so a run that fails on its input prints only the error."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar: tqdm | None = None
        self.reading: tqdm | None = None
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
        if self.reading is None:
            if p.step >= p.total:  # everything came from the cache: no bar needed
                return
            self.reading = tqdm(total=p.total, disable=not self.enabled, dynamic_ncols=True, desc=p.message,
                                unit="file")
        self.reading.update(p.step - self.reading.n)
        if p.step >= p.total:
            self._close_reading()

    def _close_reading(self) -> None:
        if self.reading is not None:
            self.reading.close()
            self.reading = None

    def close(self) -> None:
        self._close_reading()
        if self.bar is not None:
            self.bar.close()
