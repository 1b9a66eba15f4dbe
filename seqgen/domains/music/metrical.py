"""Metrical music tokens (REMI or TSD) through MidiTok and symusic: a prototype codec, not yet used by the domain.

`MetricalCodec` wraps one MidiTok tokenizer behind seqgen's `Codec` interface. Unlike `NoteEventCodec` (times in
milliseconds) its tokens are bars, positions in the bar and durations in beats, so a model sees the metre.

What is written here rather than taken from MidiTok, and why:

* `with_meter`: seqgen's ABC/MusicXML reader (`files.score_to_midi`) keeps notes but drops time signatures and
  starts a pickup (anacrusis) at tick 0, where MIDI, and so MidiTok, put the downbeat of bar 1. This adds the
  score's time signatures and shifts the notes so the pickup ends where bar 1 begins. It belongs in
  `score_to_midi` once the domain adopts this codec.
* `_one_track`: with `use_programs` off MidiTok encodes one token sequence per track; seqgen models one stream,
  so all tracks are merged into one first.
* `from_dict`: MidiTok rebuilds a tokenizer only from a JSON *file* (`params=`), so the JSON dict kept in
  seqgen's config.json is written to a temporary file and read back (no pickle, no network).
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqgen.codecs.base import Codec, register

if TYPE_CHECKING:  # imported lazily: miditok imports torch and takes seconds
    import miditok
    import music21
    import symusic

    from seqgen.midi import pretty_midi

TOKENIZATIONS = ("REMI", "TSD")
SPECIAL_TOKENS = ("PAD", "BOS", "EOS")
# Positions per beat over beat ranges (MidiTok's beat_res). A MidiTok beat is the time signature's denominator
# (a quarter in 2/4, an eighth in 6/8, a half in 2/2), and the resolution is per such beat: 12 holds 16ths and
# eighth triplets exactly in x/4 and x/8 (also 32nds and 16th triplets in x/8), but in x/2 only 8ths, triplet 8ths
# and 16th triplets (12 per half note = 6 per quarter). Durations to 4 beats at that resolution, then 4 per beat.
BEAT_RES = {(0, 4): 12, (4, 12): 4}
# Time signatures MidiTok may meet, as {denominator: [numerators]}: those of folk tunes and chorales.
TIME_SIGNATURES = {8: [3, 6, 9, 12], 4: [1, 2, 3, 4, 5, 6], 2: [2, 3, 4]}


def tokenizer_config(*, velocities: int = 0, tempos: bool = False,
                     pitch_range: tuple[int, int] = (21, 109)) -> miditok.TokenizerConfig:
    """The MidiTok settings of a metrical codec: time signatures on, programs off (one stream), no rests.

    `velocities=0` leaves velocity out (scores carry none: seqgen plays them all at 90); a performance would
    want e.g. 8 bins. Tempo tokens are off unless asked: a score's metronome mark is not part of its tune."""
    import miditok

    return miditok.TokenizerConfig(
        pitch_range=pitch_range,
        beat_res=dict(BEAT_RES),
        num_velocities=max(velocities, 1),
        use_velocities=velocities > 0,
        special_tokens=list(SPECIAL_TOKENS),
        use_time_signatures=True,
        time_signature_range={k: list(v) for k, v in TIME_SIGNATURES.items()},
        use_tempos=tempos,
        use_programs=False,
        use_chords=False,
        use_rests=False,
    )


def _tokenizer_class(tokenization: str) -> type[miditok.MusicTokenizer]:
    import miditok

    if tokenization not in TOKENIZATIONS:
        raise ValueError(f"unknown tokenization {tokenization!r} (known: {', '.join(TOKENIZATIONS)})")
    return getattr(miditok, tokenization)


def to_score(piece: pretty_midi.PrettyMIDI | symusic.Score | bytes) -> symusic.Score:
    """A piece as a symusic Score in ticks: a Score as is, MIDI bytes parsed, PrettyMIDI through its MIDI bytes."""
    import symusic

    if isinstance(piece, symusic.Score):
        return piece
    if not isinstance(piece, bytes | bytearray):
        buffer = io.BytesIO()
        piece.write(buffer)
        piece = buffer.getvalue()
    return symusic.Score.from_midi(bytes(piece))


def _one_track(score: symusic.Score) -> symusic.Score:
    """The score with all notes in its first track (MidiTok without programs makes one sequence per track)."""
    if len(score.tracks) <= 1:
        return score
    score = score.copy()
    first = score.tracks[0]
    for track in list(score.tracks)[1:]:
        first.notes.extend(track.notes)
    first.notes.sort(key=lambda n: (n.time, n.pitch))
    while len(score.tracks) > 1:
        score.tracks.pop()
    return score


def meter_of(score: music21.stream.Stream) -> tuple[float, list[tuple[float, int, int]]]:
    """A music21 score's pickup padding (quarters missing from an incomplete first bar, 0 without a pickup) and
    its time signatures as (offset in quarters, numerator, denominator), offsets counted from the first note."""
    part = score.parts[0] if hasattr(score, "parts") and score.parts else score
    measures = list(part.getElementsByClass("Measure"))
    padding = float(measures[0].paddingLeft) if measures else 0.0
    flat = part.flatten()
    signatures = [(float(ts.getOffsetBySite(flat)), int(ts.numerator), int(ts.denominator))
                  for ts in flat.getElementsByClass("TimeSignature")]
    return padding, signatures


def with_meter(piece: pretty_midi.PrettyMIDI | symusic.Score | bytes, padding: float,
               signatures: Sequence[tuple[float, int, int]]) -> symusic.Score:
    """The piece as a Score, delayed by `padding` quarters and carrying these time signatures (see `meter_of`).

    Only for pieces whose ticks follow the score's quarters (one tempo, as seqgen's reader writes for a tune
    without metronome changes): offsets are turned into ticks with the Score's ticks per quarter."""
    import symusic

    score = to_score(piece).copy()
    tpq = score.ticks_per_quarter
    shift = round(padding * tpq)
    if shift:
        score = score.shift_time(shift)
        for tempo in score.tempos:  # keep the opening tempo at tick 0
            if tempo.time == shift:
                tempo.time = 0
    score.time_signatures.clear()
    for offset, numerator, denominator in signatures:
        time = 0 if offset == 0 else round(offset * tpq) + shift
        score.time_signatures.append(symusic.TimeSignature(time, numerator, denominator))
    return score


@register
class MetricalCodec(Codec):
    """Pieces as MidiTok REMI or TSD tokens (optionally BPE-merged), ids as MidiTok numbers them.

    PAD, BOS and EOS are MidiTok's special tokens: BOS opens a training document and is the unprimed context,
    EOS closes it, none is sampled. `decode` returns a symusic Score at MidiTok's resolution."""

    kind = "metrical"
    domain = "music"

    def __init__(self, tokenization: str = "REMI", *, velocities: int = 0, tempos: bool = False,
                 tokenizer: miditok.MusicTokenizer | None = None) -> None:
        self.tokenization = tokenization
        self.tokenizer = tokenizer or _tokenizer_class(tokenization)(
            tokenizer_config(velocities=velocities, tempos=tempos))

    # --- vocabulary ---------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def _special(self, name: str) -> int:
        return self.tokenizer.vocab[f"{name}_None"]

    @property
    def special_ids(self) -> list[int]:
        return [self._special(name) for name in SPECIAL_TOKENS]

    @property
    def start_ids(self) -> list[int]:
        return [self._special("BOS")]

    @property
    def end_ids(self) -> list[int]:
        return [self._special("EOS")]

    def token_name(self, token_id: int) -> str:
        """The MidiTok token (`Bar_None`, `Pitch_62`, ...); after BPE, the base tokens joined with spaces."""
        if self.tokenizer.is_trained:
            byte = self.tokenizer._model.id_to_token(token_id)  # noqa: SLF001 (no public id -> tokens map)
            return " ".join(self.tokenizer._vocab_learned_bytes_to_tokens.get(byte, [str(token_id)]))  # noqa: SLF001
        return self.tokenizer[token_id]

    # --- encoding -----------------------------------------------------------------------------------
    def encode(self, data: pretty_midi.PrettyMIDI | symusic.Score | bytes) -> list[int]:
        """A piece's tokens (BPE-merged once trained); its tracks are merged into one stream first."""
        sequences = self.tokenizer.encode(_one_track(to_score(data)))
        sequence = sequences[0] if isinstance(sequences, list) else sequences
        return list(sequence.ids)

    def encode_document(self, document: pretty_midi.PrettyMIDI | symusic.Score | bytes) -> list[int]:
        return self.start_ids + self.encode(document) + self.end_ids

    def base_tokens(self, data: pretty_midi.PrettyMIDI | symusic.Score | bytes) -> list[str]:
        """A piece as MidiTok's base tokens (no BPE), for inspection and length comparisons."""
        sequences = self.tokenizer.encode(_one_track(to_score(data)), encode_ids=False)
        sequence = sequences[0] if isinstance(sequences, list) else sequences
        return list(sequence.tokens)

    def decode(self, ids: Sequence[int]) -> symusic.Score:
        """Tokens -> a one-track Score (ticks at MidiTok's resolution); special tokens are dropped."""
        special = set(self.special_ids)
        kept = [int(i) for i in ids if int(i) not in special]
        return self.tokenizer.decode([kept])

    # --- BPE ----------------------------------------------------------------------------------------
    def train_bpe(self, pieces: Iterable[pretty_midi.PrettyMIDI | symusic.Score | bytes], vocab_size: int) -> None:
        """Learn BPE merges (within bars, MidiTok's default) on these pieces; MidiTok reads training pieces from
        files only, so they pass through a temporary folder."""
        with tempfile.TemporaryDirectory() as folder:
            paths = []
            for i, piece in enumerate(pieces):
                path = Path(folder) / f"{i}.mid"
                _one_track(to_score(piece)).dump_midi(str(path))
                paths.append(path)
            self.tokenizer.train(vocab_size=vocab_size, model="BPE", files_paths=paths)

    # --- serialisation ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the MidiTok tokenizer's own dict (config, and the BPE model once trained)."""
        return {"kind": self.kind, "tokenization": self.tokenization, "miditok": self.tokenizer.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MetricalCodec:
        tokenization = d["tokenization"]
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "tokenizer.json"
            path.write_text(json.dumps(d["miditok"]))
            tokenizer = _tokenizer_class(tokenization)(params=path)
        return cls(tokenization, tokenizer=tokenizer)

    def describe(self) -> str:
        bpe = ", BPE" if self.tokenizer.is_trained else ""
        return f"{self.kind} {self.tokenization}{bpe} ({self.vocab_size} tokens)"
