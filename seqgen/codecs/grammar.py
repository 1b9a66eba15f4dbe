"""Token grammars: which ids may come next, so a sampler only writes sequences its codec reads as written.

A model that has trained for minutes puts most of its mass on well-formed continuations but not all of it, and one
stray token can spoil a whole sample (a note position before the first bar line, a position behind the previous one).
A codec whose streams follow a grammar returns one from `Codec.grammar()`; `seqgen.sample.generate` then draws each
token among those the grammar allows, renormalising the model's distribution over them. Scores are unaffected: they
are the model's own probabilities. States are small hashable values, so a sampler can cache each state's mask.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol

import numpy as np


class Grammar(Protocol):
    """What may follow a token sequence: a state read off the sequence, and the ids allowed in that state."""

    def start(self, ids: Sequence[int]) -> Hashable:
        """The state after reading `ids` (a primer: the codec's start ids and what follows them)."""

    def advance(self, state: Hashable, token: int) -> Hashable:
        """The state after `token` follows a sequence in `state`."""

    def allowed(self, state: Hashable) -> np.ndarray:
        """A bool mask over the vocabulary [vocab_size]: the ids that may come next in `state`."""


def first_violation(grammar: Grammar, ids: Sequence[int], context: Sequence[int] = ()) -> int | None:
    """The index in `ids` of the first token the grammar does not allow after `context` and the tokens before it,
    or None when the whole sequence follows the grammar."""
    state = grammar.start(context)
    for i, token in enumerate(ids):
        if not grammar.allowed(state)[int(token)]:
            return i
        state = grammar.advance(state, int(token))
    return None
