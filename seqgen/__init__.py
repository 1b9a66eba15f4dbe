"""seqgen: recurrent sequence models (LSTM, GRU, RNN) that train on, sample and score token streams."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public API is imported on first use (PEP 562), so `import seqgen` and the command line's help start at once:
# torch is loaded by the first model or training call, matplotlib/music21/librosa/pretty_midi by the first music,
# waveform or plot feature that needs them.
_LAZY = {"Model": "seqgen.api", "load": "seqgen.api", "train": "seqgen.api", "CharCodec": "seqgen.codecs",
         "Codec": "seqgen.codecs", "SeqgenError": "seqgen.errors", "ModelConfig": "seqgen.config",
         "SequenceModel": "seqgen.models", "TrainConfig": "seqgen.config"}

if TYPE_CHECKING:
    from seqgen.api import Model, load, train
    from seqgen.codecs import CharCodec, Codec
    from seqgen.config import ModelConfig, TrainConfig
    from seqgen.errors import SeqgenError
    from seqgen.models import SequenceModel

__all__ = ["CharCodec", "Codec", "Model", "ModelConfig", "SeqgenError", "SequenceModel", "TrainConfig", "load",
           "train", "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'seqgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
