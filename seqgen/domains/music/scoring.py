"""Scoring music: every piece of the files given, as a whole, per event and per second of music."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqgen.data import resolve_paths
from seqgen.domains.base import Report, finite
from seqgen.domains.music.files import MUSIC_SUFFIXES, is_music_file
from seqgen.domains.music.pieces import encode_file
from seqgen.domains.music.protocol import EventCodec
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.models import SequenceModel
    from seqgen.score import ScoreResult


@dataclass
class PieceScore:
    """Score of one piece of music: log P(tokens) in nats, per token, per second of music and per note. The
    last two do not depend on how the music was tokenized, so they compare models with different codecs."""

    name: str
    result: ScoreResult
    seconds: float  # from the first onset to the last note's end, as the file has it
    token_names: list[str]
    notes: int = 0

    @property
    def nll_per_second(self) -> float:
        return -self.result.logprob / self.seconds if self.seconds > 0 else float("nan")

    @property
    def nll_per_note(self) -> float:
        return -self.result.logprob / self.notes if self.notes > 0 else float("nan")

    def to_dict(self, per_token: bool = False) -> dict[str, Any]:
        from seqgen.score import LN2

        r = self.result
        d: dict[str, Any] = {
            "piece": self.name, "events": r.tokens, "seconds": round(self.seconds, 3), "logprob": r.logprob,
            "nll_per_event": r.nll_per_token, "bits_per_event": r.bits_per_token,
            "nll_per_second": self.nll_per_second, "bits_per_second": self.nll_per_second / LN2,
            "notes": self.notes, "bits_per_note": self.nll_per_note / LN2,
        }
        if per_token:
            d["token_names"] = self.token_names
            d["token_logprobs"] = r.token_logprobs
        return finite(d)


def score_pieces(net: SequenceModel, codec: EventCodec, paths: Sequence[str | Path], batch_size: int,
                 precision: str) -> tuple[list[PieceScore], list[str]]:
    """Score every piece in music files or folders as a whole piece (start to end), and list the pieces that
    could not be read ("name: reason")."""
    files = resolve_paths(paths)
    other = [f for f in files if not is_music_file(f)]
    if other:
        raise SeqgenError(f"{other[0]}: not a music file (music files end in {', '.join(MUSIC_SUFFIXES)})")
    names, seqs, skipped, seconds, notes = [], [], [], [], []
    for f in files:
        pieces = encode_file(f, codec)
        names += pieces.names
        seqs += [t.tolist() + list(codec.end_ids) for t in pieces.tokens]
        skipped += pieces.skipped
        seconds += pieces.seconds
        notes += pieces.notes
    if not seqs:
        raise SeqgenError(f"nothing to score: {skipped[0] if skipped else 'no music files given'}")
    from seqgen.score import score_sequences  # torch: imported when scoring, not when the domain is

    results = score_sequences(net, seqs, codec.start_ids, batch_size=batch_size, precision=precision)
    scores = [PieceScore(n, r, sec, [codec.token_name(i) for i in s], k)
              for n, s, r, sec, k in zip(names, seqs, results, seconds, notes, strict=True)]
    return scores, skipped


def show_pieces(results: list[PieceScore], skipped: list[str], per_token: bool, as_json: bool,
                report: Report) -> None:
    """The skipped pieces as notes, then a line (or JSON object) per piece."""
    from seqgen.score import LN2

    for s in skipped:
        report.note(f"seqgen: skipped {s}")
    for r in results:
        if as_json:
            report.show(json.dumps(r.to_dict(per_token=per_token), ensure_ascii=False))
            continue
        s = r.result
        report.show(f"logprob {s.logprob:11.2f}  nll/event {s.nll_per_token:6.3f}  nll/s {r.nll_per_second:8.2f}  "
                    f"bits/note {r.nll_per_note / LN2:6.3f}  events {s.tokens:6d}  seconds {r.seconds:7.1f}  "
                    f"{r.name}")
        if per_token:
            for tok, lp in zip(r.token_names, s.token_logprobs, strict=True):
                report.show(f"    {tok:>18} {lp:9.4f}")
