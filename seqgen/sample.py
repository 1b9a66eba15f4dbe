"""Generation: a primer sets the recurrent state, then each new token costs one recurrent step.

All `num` samples run together as one batch. Sampling is reproducible: a seeded generator draws
every token. Temperature 0 takes the argmax path; top-k and top-p trim the distribution first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from seqgen.codecs.grammar import Grammar
from seqgen.models import SequenceModel, in_eval_mode
from seqgen.stepper import Stepper


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set to -inf every logit outside the k most likely and outside the smallest set of mass >= p."""
    if top_k is not None and 0 < top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = torch.softmax(sorted_logits, dim=-1).cumsum(-1)
        drop = cum - torch.softmax(sorted_logits, dim=-1) >= top_p  # mass before this token already >= p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def choose(scaled: Tensor, top_k: int | None, top_p: float | None, noise: Tensor | None) -> Tensor:
    """Next token for each row of temperature-scaled logits [batch, vocab]; no noise: the argmax.

    Gumbel-max: argmax_i (log p_i + G_i) with standard Gumbel noise G picks i with probability p_i (the
    law of torch.multinomial) and needs no softmax, so the noise for many steps can be drawn at once.
    """
    if noise is None:
        return scaled.argmax(-1)
    if top_k is not None or top_p is not None:
        scaled = filter_logits(scaled, top_k, top_p)
    return (scaled + noise).argmax(-1)


GREEDY_BELOW = 1e-6  # temperatures under this take the argmax path (dividing by them could overflow)


NOISE_BLOCK = 1 << 18  # noise values per sample drawn at once (1 MB): up to 256 steps of a small vocabulary


def sample_seed(seed: int, index: int) -> int:
    """The generator seed of sample `index` of `seed`: each sample has a stream of its own, so sample i of a seed
    is the same however many were drawn with it, and no sample of one seed repeats a sample of another."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0]) >> 1


class GumbelNoise:
    """Standard Gumbel noise [num, vocab] per step; row i comes from sample i's own seeded generator, drawn a block
    of steps at a time (the block's length depends on the vocabulary only, never on `num`)."""

    def __init__(self, num: int, vocab: int, seed: int, device: torch.device):
        self.steps = max(1, min(256, NOISE_BLOCK // vocab))
        self.generators = [torch.Generator(device=device).manual_seed(sample_seed(seed, i)) for i in range(num)]
        self.vocab, self.device = vocab, device
        self.block: Tensor | None = None  # [steps, num, vocab]
        self.used = 0

    def next(self) -> Tensor:
        if self.block is None or self.used == self.steps:
            rows = [torch.empty(self.steps, self.vocab, device=self.device).exponential_(generator=g)
                    for g in self.generators]
            # -log(E) with E ~ Exp(1) is Gumbel; an exact 0 from the draw would give +inf noise, and +inf on a
            # banned token's -inf logit is NaN, which argmax would pick: clamp to the smallest positive float
            self.block = torch.stack(rows, 1).clamp_min_(torch.finfo(torch.float32).tiny).log_().neg_()
            self.used = 0
        self.used += 1
        return self.block[self.used - 1]


SMALL_BATCH = 4  # up to this many samples a step is a matrix-vector product per layer


@contextmanager
def threads_for(num: int, device: torch.device) -> Iterator[None]:
    """One CPU thread while stepping a small batch: one core streams the weights about as fast as all of
    them, and waking the others for each small op costs more than it saves (much more on a busy machine)."""
    before = torch.get_num_threads()
    if device.type == "cpu" and num <= SMALL_BATCH:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _ends_with(seq: list[int], suffix: list[int]) -> bool:
    return len(suffix) > 0 and len(seq) >= len(suffix) and seq[-len(suffix):] == suffix


class GrammarMasks:
    """Per-sample grammar states of a batch being sampled, and the -inf bias [num, vocab] they put on the logits
    of the ids each sample's grammar does not allow next (one bias row cached per state)."""

    def __init__(self, grammar: Grammar, prime: Sequence[int], num: int, device: torch.device):
        self.grammar, self.device = grammar, device
        self.states = [grammar.start(prime)] * num
        self.rows: dict[object, Tensor] = {}

    def _row(self, state: object) -> Tensor:
        row = self.rows.get(state)
        if row is None:
            allowed = torch.from_numpy(self.grammar.allowed(state))
            row = self.rows[state] = torch.where(allowed, 0.0, float("-inf")).to(self.device)
        return row

    def apply(self, logits: Tensor) -> Tensor:
        """`logits` [num, vocab] with disallowed ids at -inf; a row left with nothing (bans took every allowed id)
        keeps its logits."""
        masked = logits + torch.stack([self._row(s) for s in self.states])
        dead = torch.isneginf(masked).all(-1, keepdim=True)
        return torch.where(dead, logits, masked)

    def advance(self, ids: list[int]) -> None:
        self.states = [self.grammar.advance(s, i) for s, i in zip(self.states, ids, strict=True)]


@runtime_checkable
class Meter(Protocol):
    """What a sequence spends (seconds of music, say) where a token's cost depends on the tokens before it: a repeat
    sign costs the passage it repeats. A state is read off the primer, then advanced by each token a sample draws;
    states are values (never changed in place), so the samples of a batch, which start from one primer state, keep
    theirs apart."""

    def start(self, ids: Sequence[int]) -> object:
        """The state after reading `ids` (a primer: the codec's start ids and what follows them)."""

    def advance(self, state: object, token: int) -> tuple[object, float]:
        """The state after `token` follows a sequence in `state`, and what `token` costs there (it may be negative
        where it changes what earlier tokens cost: the total is what the sequence spends)."""


Costs = Sequence[float] | Meter  # a cost per token id, whatever comes before it, or a meter


class TokenCosts:
    """A per-token table as a meter with no state: each token costs its entry wherever it comes."""

    def __init__(self, costs: Sequence[float]):
        self.costs = costs

    def start(self, ids: Sequence[int]) -> None:
        return None

    def advance(self, state: None, token: int) -> tuple[None, float]:
        return None, self.costs[token]


class Budget:
    """What each sample of a batch has spent of `budget` by `costs`, counted from the state after the primer (whose
    own costs are not counted), with each sample's meter state."""

    def __init__(self, costs: Costs, budget: float, prime: Sequence[int], num: int):
        self.meter = costs if isinstance(costs, Meter) else TokenCosts(costs)
        self.budget = budget
        self.states = [self.meter.start(prime)] * num
        self.spent = [0.0] * num

    def passed(self, i: int, token: int) -> bool:
        """Whether sample `i` passes the budget when it draws `token`."""
        self.states[i], cost = self.meter.advance(self.states[i], token)
        self.spent[i] += cost
        return self.spent[i] > self.budget


@torch.inference_mode()
@in_eval_mode
def generate(model: SequenceModel, prime: Sequence[int], length: int, num: int = 1, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int = 0,
             banned: Sequence[int] = (), stops: Sequence[Sequence[int]] = (),
             costs: Costs | None = None, budget: float | None = None,
             min_length: int = 0, weights: str = "fp32",
             on_step: Callable[[list[int | None]], None] | None = None,
             grammar: Grammar | None = None) -> list[list[int]]:
    """`num` continuations of `prime` (token ids, at least one), each up to `length` new tokens.

    A sample ends early when it produces one of the `stops` id sequences (which is then cut off), or
    when the summed `costs` of its tokens (e.g. seconds of music) would pass `budget` (that token is
    dropped): `costs` is a cost per token id, or a `Meter` whose costs depend on the primer and the tokens
    before (seconds of music as played, its repeats played out). Before `min_length` new tokens no stop
    applies and single-token stops (an end-of-piece token) are not drawn. `banned` ids (unknown-token and
    start markers) are never drawn. `weights="int8"` steps with 8-bit recurrent weights (CPU; faster for
    large models, logits within about 1e-3).
    `on_step`, when given, is called after every step with the id each sample drew (None for a sample that has
    ended), so a face can show samples as they grow; it draws nothing, so the samples are the same without it.
    With a `grammar` each token is drawn among those it allows after the primer and the tokens before (the
    model's distribution renormalised over them; where bans leave none of them, the grammar gives way).
    """
    if not prime:
        raise ValueError("generation needs at least one primer token")
    if not 0 <= temperature < math.inf:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top-p must be in (0, 1], got {top_p}")
    if num < 1 or length < 0:
        raise ValueError(f"num must be >= 1 and length >= 0, got num={num}, length={length}")
    device = next(model.parameters()).device
    with threads_for(num, device):
        noise = None if temperature < GREEDY_BELOW else GumbelNoise(num, model.config.vocab_size, seed, device)
        scale = temperature if noise is not None else 1.0
        stepper = Stepper(model, banned, scale, weights)
        logits, state = model(torch.tensor([list(prime)] * num, dtype=torch.long, device=device))
        ban = torch.zeros(model.config.vocab_size, device=device)
        ban[list(banned)] = float("-inf")  # the stepper's output bias bans them in every later step
        logits = logits[:, -1] / scale + ban
        hs = list((state[0] if isinstance(state, tuple) else state).unbind(0))
        cs = list(state[1].unbind(0)) if isinstance(state, tuple) else None
        stops = [list(s) for s in stops if s]
        early_ban = torch.zeros(model.config.vocab_size, device=device)
        early_ban[[s[0] for s in stops if len(s) == 1]] = float("-inf")
        rules = GrammarMasks(grammar, prime, num, device) if grammar is not None else None
        if not stops and (budget is None or costs is None) and rules is None:  # nothing to check: no sync per step
            drawn = []
            for t in range(length):
                tokens = choose(logits, top_k, top_p, noise.next() if noise else None)
                drawn.append(tokens)
                if on_step is not None:
                    on_step(tokens.tolist())
                if t + 1 < length:
                    logits, hs, cs = stepper.step_layers(tokens, hs, cs)
            return torch.stack(drawn, 1).tolist() if drawn else [[] for _ in range(num)]
        out: list[list[int]] = [[] for _ in range(num)]
        live = list(range(num))
        limit = Budget(costs, budget, prime, num) if budget is not None and costs is not None else None
        for t in range(length):
            if t < min_length:
                logits = logits + early_ban
            if rules is not None:
                logits = rules.apply(logits)
            tokens = choose(logits, top_k, top_p, noise.next() if noise else None)
            ids = tokens.tolist()
            if rules is not None:
                rules.advance(ids)
            over: set[int] = set()
            for i in live:
                if limit is not None and limit.passed(i, ids[i]):
                    over.add(i)
                    continue
                out[i].append(ids[i])
            if on_step is not None:
                on_step([ids[i] if i in live and i not in over else None for i in range(num)])
            may_stop = t + 1 >= min_length
            live = [i for i in live if i not in over and not (may_stop and any(_ends_with(out[i], s) for s in stops))]
            if not live:
                break
            logits, hs, cs = stepper.step_layers(tokens, hs, cs)
        for i in range(num):
            for s in stops:
                if _ends_with(out[i], s):
                    del out[i][-len(s):]
                    break
        return out
