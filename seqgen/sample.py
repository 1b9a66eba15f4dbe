"""Generation: a primer sets the recurrent state, then each new token costs one recurrent step.

All `num` samples run together as one batch. Sampling is reproducible: a seeded generator draws
every token. Temperature 0 takes the argmax path; top-k and top-p trim the distribution first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from seqgen.models import SequenceModel
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


def choose(logits: Tensor, temperature: float, top_k: int | None, top_p: float | None,
           generator: torch.Generator) -> Tensor:
    """Next token for each row of logits [batch, vocab]."""
    if temperature == 0:
        return logits.argmax(-1)
    # shift before dividing so that a tiny temperature gives -inf rather than inf - inf = nan
    scaled = (logits - logits.amax(-1, keepdim=True)) / temperature
    probs = torch.softmax(filter_logits(scaled, top_k, top_p), -1)
    # Exponential race: argmax_i p_i / E_i with E_i ~ Exp(1) picks i with probability p_i (same law as
    # torch.multinomial, at a third of its cost for one draw per row).
    return (probs / torch.empty_like(probs).exponential_(generator=generator)).argmax(-1)


def _ends_with(seq: list[int], suffix: list[int]) -> bool:
    return len(suffix) > 0 and len(seq) >= len(suffix) and seq[-len(suffix):] == suffix


@torch.inference_mode()
def generate(model: SequenceModel, prime: Sequence[int], length: int, num: int = 1, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int = 0,
             banned: Sequence[int] = (), stops: Sequence[Sequence[int]] = (),
             costs: Sequence[float] | None = None, budget: float | None = None,
             min_length: int = 0) -> list[list[int]]:
    """`num` continuations of `prime` (token ids, at least one), each up to `length` new tokens.

    A sample ends early when it produces one of the `stops` id sequences (which is then cut off), or
    when the summed `costs` of its tokens (e.g. seconds of music) would pass `budget` (that token is
    dropped). Before `min_length` new tokens no stop applies and single-token stops (an end-of-piece
    token) are not drawn. `banned` ids (unknown-token and start markers) are never drawn.
    """
    if not prime:
        raise ValueError("generation needs at least one primer token")
    if not 0 <= temperature < math.inf:
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top-p must be in (0, 1], got {top_p}")
    if num < 1 or length < 0:
        raise ValueError(f"num must be >= 1 and length >= 0, got num={num}, length={length}")
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    stepper = Stepper(model)
    x = torch.tensor([list(prime)] * num, dtype=torch.long, device=device)
    logits, state = model(x)
    logits = logits[:, -1]
    ban = torch.zeros(model.config.vocab_size, device=device)
    ban[list(banned)] = float("-inf")
    stops = [list(s) for s in stops if s]
    early_ban = ban.clone()
    early_ban[[s[0] for s in stops if len(s) == 1]] = float("-inf")
    out: list[list[int]] = [[] for _ in range(num)]
    live = list(range(num))
    spent = [0.0] * num
    for t in range(length):
        logits = logits + (early_ban if t < min_length else ban)
        tokens = choose(logits, temperature, top_k, top_p, generator)
        ids = tokens.tolist()
        over: set[int] = set()
        for i in live:
            if budget is not None and costs is not None:
                spent[i] += costs[ids[i]]
                if spent[i] > budget:
                    over.add(i)
                    continue
            out[i].append(ids[i])
        may_stop = t + 1 >= min_length
        live = [i for i in live if i not in over and not (may_stop and any(_ends_with(out[i], s) for s in stops))]
        if not live:
            break
        logits, state = stepper.step(tokens, state)
    for i in range(num):
        for s in stops:
            if _ends_with(out[i], s):
                del out[i][-len(s):]
                break
    return out

