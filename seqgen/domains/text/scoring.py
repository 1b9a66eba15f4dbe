"""Scoring texts: log P of each text as a whole, and what `seqgen score` shows of it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seqgen.domains.base import Report, finite
from seqgen.domains.text.protocol import CharacterCodec

if TYPE_CHECKING:
    from seqgen.models import SequenceModel
    from seqgen.score import ScoreResult


@dataclass
class TextScore:
    """Score of one text: the ScoreResult plus what was scored."""

    text: str
    result: ScoreResult
    token_texts: list[str]
    unknown_chars: list[str]

    def to_dict(self, per_token: bool = False) -> dict[str, Any]:
        r = self.result
        d: dict[str, Any] = {
            "text": self.text, "tokens": r.tokens, "logprob": r.logprob, "log10prob": r.log10prob,
            "perplexity": r.perplexity, "bits_per_token": r.bits_per_token, "nll_per_token": r.nll_per_token,
        }
        if self.unknown_chars:
            d["unknown_chars"] = self.unknown_chars
        if per_token:
            d["token_texts"] = self.token_texts
            d["token_logprobs"] = r.token_logprobs
        return finite(d)


def score_texts(net: SequenceModel, codec: CharacterCodec, texts: Sequence[str], batch_size: int,
                precision: str) -> list[TextScore]:
    """Log-probability of each text as a whole (with sentence boundaries: including its end)."""
    seqs = [codec.encode(t) + list(codec.end_ids) for t in texts]
    from seqgen.score import score_sequences  # torch: imported when scoring, not when the domain is

    results = score_sequences(net, seqs, codec.start_ids, batch_size=batch_size, precision=precision)
    out = []
    for t, seq, r in zip(texts, seqs, results, strict=True):
        shown = [codec.token_name(i) for i in seq]
        skipped = len(shown) - r.tokens
        out.append(TextScore(t, r, shown[skipped:], codec.unknown_chars(t)))
    return out


def show_scores(results: list[TextScore], per_token: bool, as_json: bool, report: Report) -> None:
    """One line per text (its tokens under it with per_token), or one JSON object per text."""
    for r in results:
        if as_json:
            report.show(json.dumps(r.to_dict(per_token=per_token), ensure_ascii=False))
            continue
        s = r.result
        shown = r.text if len(r.text) <= 60 else r.text[:57] + "..."
        report.show(f"logprob {s.logprob:10.3f}  log10 {s.log10prob:9.3f}  ppl {s.perplexity:8.3f}  "
                    f"bits/token {s.bits_per_token:6.3f}  tokens {s.tokens:5d}  {shown!r}")
        if per_token:
            for tok, lp in zip(r.token_texts, s.token_logprobs, strict=True):
                report.show(f"    {tok!r:>8} {lp:9.4f}")
        if r.unknown_chars:
            report.note(f"    note: unseen character(s) {', '.join(map(repr, r.unknown_chars))} scored as <unk>")
