"""Option choices and defaults that the command line shows in its help, kept here because this module imports
nothing: `seqgen --help`, `seqgen train --help` and `seqgen datasets list` must not load torch or the music and
plotting libraries. The modules that use them (config, precision, api, the music domain) import them from here;
the settings of `seqgen train` and their defaults are declared in seqgen.config."""

from __future__ import annotations

CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # what a user may ask for; auto resolves to one of the others

DEFAULT_DATA = "folk"
DEFAULT_DATA_BUDGET_S = 240.0  # the zero-argument `seqgen train` trains in a few minutes on 2 CPU cores

MAX_NOTE_SECONDS = 5.0  # sampled notes held longer are ended: a forgotten NOTE_OFF must not drone to the end
