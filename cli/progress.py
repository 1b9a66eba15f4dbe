"""Draws the library's training progress callbacks as a tqdm bar on stderr."""

from __future__ import annotations

from tqdm import tqdm

from seqgen.train import Progress


class ProgressBar:
    """Callable passed as `progress=` to seqgen.train; shows loss, validation loss and tokens/s."""

    def __init__(self, enabled: bool = True):
        self.bar = tqdm(total=1000, disable=not enabled, unit="‰", dynamic_ncols=True, leave=True,
                        bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")
        self.bar.set_description("training")
        self.post: dict[str, str] = {}

    def __call__(self, p: Progress) -> None:
        if p.kind == "step":
            self.post.update(step=str(p.step), loss=f"{p.loss:.3f}", tok_s=f"{p.tokens_per_s:,.0f}")
        elif p.kind == "eval" and p.val_loss is not None:
            self.post.update(val=f"{p.val_loss:.3f}")
        elif p.kind == "note":
            self.bar.write(p.message)
        self.bar.set_postfix(self.post, refresh=False)
        self.bar.update(max(0, min(1000, int(p.fraction * 1000)) - self.bar.n))

    def close(self) -> None:
        self.bar.close()
