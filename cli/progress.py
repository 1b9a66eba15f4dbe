"""Draws the library's training progress callbacks as a tqdm bar on stderr."""

from __future__ import annotations

import sys

from tqdm import tqdm

from seqgen.train import Progress


class ProgressBar:
    """Callable passed as `progress=` to seqgen.train; shows loss, validation loss and tokens/s.

    The bar appears with the first report, so a run that fails on its input prints only the error."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar: tqdm | None = None
        self.post: dict[str, str] = {}

    def __call__(self, p: Progress) -> None:
        if self.bar is None:
            self.bar = tqdm(total=1000, disable=not self.enabled, dynamic_ncols=True, desc="training",
                            bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
        if p.kind == "step":
            self.post.update(step=str(p.step), loss=f"{p.loss:.3f}", tok_s=f"{p.tokens_per_s:,.0f}")
        elif p.kind == "eval" and p.val_loss is not None:
            self.post.update(val=f"{p.val_loss:.3f}")
        elif p.kind == "note":
            tqdm.write(p.message, file=sys.stderr)
        self.bar.set_postfix(self.post, refresh=False)
        self.bar.update(max(0, min(1000, int(p.fraction * 1000)) - self.bar.n))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
