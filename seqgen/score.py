"""Scoring: log P(x) = sum_t log P(x_t | x_<t), per token and in total, for many sequences at once.

Sequences are sorted by length and batched with right padding; a unidirectional model never sees the
padding of a position before it, so padded rows score exactly as they would alone. Long sequences are
run in time chunks with the recurrent state carried across, so memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from seqgen.models import SequenceModel, in_eval_mode
from seqgen.precision import autocast, decide

LN10, LN2 = math.log(10), math.log(2)


@dataclass
class ScoreResult:
    """Log-probability of one sequence in nats, with the figures derived from it."""

    tokens: int
    logprob: float
    token_logprobs: list[float] = field(default_factory=list)
    token_entropies: list[float] = field(default_factory=list)  # nats, with score_sequences(entropies=True)

    @property
    def log10prob(self) -> float:
        return self.logprob / LN10

    @property
    def nll_per_token(self) -> float:
        return -self.logprob / self.tokens if self.tokens else float("nan")

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll_per_token) if self.tokens else float("nan")

    @property
    def bits_per_token(self) -> float:
        return self.nll_per_token / LN2


@torch.inference_mode()
@in_eval_mode
def score_sequences(model: SequenceModel, sequences: Sequence[Sequence[int]], context: Sequence[int] = (),
                    batch_size: int = 64, chunk: int = 2048, precision: str = "fp32",
                    entropies: bool = False) -> list[ScoreResult]:
    """Score each sequence given `context` (e.g. a start-of-sentence token) in front of it.

    With no context the first token has nothing to be predicted from and is not scored. `precision`
    (see seqgen.precision: auto, fp32, bf16, fp16) runs the recurrent layers under autocast (bf16 is about twice
    as fast on CPUs with native bf16); log-softmax and sums stay in fp32. One the device cannot run (fp16 on a
    CPU) is a SeqgenError. `entropies` also gives the entropy of every predictive distribution (nats): the
    surprise the model expects at each token, next to the one it got.
    """
    device = next(model.parameters()).device
    chosen = decide(precision, device).chosen
    ctx = list(context)
    full = [ctx + list(s) for s in sequences]
    first = max(len(ctx), 1)  # index of the first predicted token in each full sequence
    results: list[ScoreResult | None] = [None] * len(full)
    order = sorted(range(len(full)), key=lambda i: len(full[i]))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        longest = len(full[idx[-1]])
        if longest <= first:
            for i in idx:
                results[i] = ScoreResult(0, 0.0, [])
            continue
        batch = torch.zeros(len(idx), longest, dtype=torch.long)
        for row, i in enumerate(idx):
            batch[row, : len(full[i])] = torch.tensor(full[i], dtype=torch.long)
        batch = batch.to(device)
        logps, ents, state = [], [], None
        for t0 in range(0, longest - 1, chunk):
            x = batch[:, t0 : min(t0 + chunk, longest - 1)]
            y = batch[:, t0 + 1 : t0 + 1 + x.size(1)]
            with autocast(device, chosen):
                logits, state = model(x, state)
            logp = F.log_softmax(logits.float(), -1)
            logps.append(logp.gather(-1, y.unsqueeze(-1)).squeeze(-1))
            if entropies:
                ents.append(-(logp.exp() * logp).sum(-1))
        lp = torch.cat(logps, 1).cpu()  # lp[:, t] = log P(token t+1 | tokens <= t)
        ent = torch.cat(ents, 1).cpu() if entropies else None
        for row, i in enumerate(idx):
            span = slice(first - 1, max(first, len(full[i])) - 1)  # empty: no tokens
            per_token = lp[row, span].double()
            results[i] = ScoreResult(per_token.numel(), per_token.sum().item(), per_token.tolist(),
                                     ent[row, span].tolist() if ent is not None else [])
    return results
