"""pretty_midi for seqgen's modules, imported on first use and quietly.

`from seqgen.midi import pretty_midi` gives a stand-in whose first attribute access imports the real module: listing
corpora or printing help never loads it (nor fluidsynth behind it), and pyfluidsynth, which prints where it found its
library when $CI is set, prints nothing (seqgen never prints)."""

from __future__ import annotations

import contextlib
import functools
import io
from types import ModuleType
from typing import Any


@functools.cache
def _load() -> ModuleType:
    with contextlib.redirect_stdout(io.StringIO()):
        import pretty_midi
    return pretty_midi


class _OnFirstUse:
    """Forwards every attribute to pretty_midi, importing it the first time."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_load(), name)


pretty_midi: Any = _OnFirstUse()

__all__ = ["pretty_midi"]
