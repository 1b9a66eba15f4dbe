"""seqgen: recurrent sequence models (LSTM, GRU, RNN) that train on, sample and score token streams."""

__version__ = "0.1.0"

import contextlib  # noqa: E402
import io  # noqa: E402

# pyfluidsynth, imported by pretty_midi, prints where it found its library when $CI is set; seqgen never prints
with contextlib.redirect_stdout(io.StringIO()):
    import pretty_midi  # noqa: E402, F401

from seqgen.api import Model, load, train  # noqa: E402
from seqgen.codecs import CharCodec, Codec  # noqa: E402
from seqgen.errors import SeqgenError  # noqa: E402
from seqgen.models import ModelConfig, SequenceModel  # noqa: E402

__all__ = ["CharCodec", "Codec", "Model", "ModelConfig", "SeqgenError", "SequenceModel", "load", "train",
           "__version__"]
