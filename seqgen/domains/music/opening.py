"""What a new piece is asked to be: the piece it continues, its metre, key and tempo (`seqgen sample --prime-midi
--meter 6/8 --key D --tempo 110`), turned into what sampling needs: the primer's tokens, the tokens a sample may
not write, and the tempo the written piece is played at.

A metrical model opens every training piece with its key token and every bar with its time signature, so a key
is asked by priming with its token (a primer piece is moved to that key), and a metre by never letting the model
write another time signature. Tempo is not part of a tune: decoding writes 120 quarter notes per minute, and
`at_tempo` plays the piece at the tempo asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seqgen.domains.music.keys import interval_to, key_name, parse_key
from seqgen.domains.music.metrical import TEMPO, MetricalCodec
from seqgen.domains.music.output import read_piece
from seqgen.domains.music.protocol import EventCodec
from seqgen.errors import SeqgenError
from seqgen.midi import pretty_midi

if TYPE_CHECKING:
    from seqgen.codecs import Codec


@dataclass(frozen=True)
class Opening:
    """How a sampled piece begins: `piece` it continues (a music file's first piece, or a PrettyMIDI), `meter`
    ("6/8") and `key` ("D", "Bm", "F# minor") it is asked to have. Each may be None."""

    piece: str | Path | pretty_midi.PrettyMIDI | None = None
    meter: str | None = None
    key: str | None = None

    def name(self) -> str:
        """The primer piece, for messages."""
        return str(self.piece) if isinstance(self.piece, str | Path) else "the primer piece"


def opening_ids(codec: Codec, opening: Opening) -> list[int]:
    """The primer's tokens: the piece's (moved to the asked key), or the asked key's token and the first bar's
    opening in the asked metre."""
    events: EventCodec = codec
    piece = opening.piece
    if piece is not None and not isinstance(piece, pretty_midi.PrettyMIDI):
        piece = read_piece(Path(piece))
    ids = events.encode(piece) if piece is not None else []
    if opening.meter is None and opening.key is None:
        return ids
    metrical = _metrical(codec, opening)
    if opening.meter is not None:
        _check_meter(metrical, opening, ids)
        if not ids:  # the first bar says its metre at once (a sample may not leave it out)
            ids = metrical.first_bar(opening.meter)
    if opening.key is None:
        return ids
    key = parse_key(opening.key)
    if not metrical.keys:
        raise SeqgenError("--key: this model was trained before seqgen wrote key tokens; train it again to ask for "
                          "a key")
    has = metrical.key_of(ids)
    if has is None:  # no piece, or one without a key (a single pitch class)
        return [metrical.key_id(key), *ids]
    if has // 12 != key // 12:
        raise SeqgenError(f"{opening.name()}: is in {key_name(has)}, a {_mode(has)} key; --key {opening.key} asks "
                          f"for a {_mode(key)} one")
    return [int(i) for i in metrical.transpose(ids, interval_to(has, key))]


def opening_bans(codec: Codec, opening: Opening) -> list[int]:
    """Tokens no sample may write: every time signature but the asked metre's."""
    if opening.meter is None:
        return []
    metrical = _metrical(codec, opening)
    return [i for meter, i in metrical.meters.items() if meter != opening.meter]


def at_tempo(pm: pretty_midi.PrettyMIDI, qpm: float) -> pretty_midi.PrettyMIDI:
    """A decoded metrical piece (120 quarter notes per minute) played at `qpm` quarter notes per minute: every
    note, time signature and key signature moved, the file's tempo set."""
    if qpm <= 0:
        raise SeqgenError(f"--tempo {qpm:g}: a tempo is a positive number of beats per minute")
    scale = TEMPO / qpm
    out = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    for inst in pm.instruments:
        moved = pretty_midi.Instrument(inst.program, inst.is_drum, inst.name)
        moved.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start * scale, n.end * scale) for n in inst.notes]
        out.instruments.append(moved)
    out.time_signature_changes = [pretty_midi.TimeSignature(t.numerator, t.denominator, t.time * scale)
                                  for t in pm.time_signature_changes]
    out.key_signature_changes = [pretty_midi.KeySignature(k.key_number, k.time * scale)
                                 for k in pm.key_signature_changes]
    return out


def check_tempo(codec: Codec) -> None:
    """Only a metrical model's pieces have a tempo to set."""
    if not isinstance(codec, MetricalCodec):
        raise SeqgenError("--tempo: this model reads performance events, whose timing is the tempo; a model "
                          "trained with --codec remi takes it")


def _metrical(codec: Codec, opening: Opening) -> MetricalCodec:
    if not isinstance(codec, MetricalCodec):
        asked = " and ".join(f"--{k}" for k in ("meter", "key") if getattr(opening, k) is not None)
        raise SeqgenError(f"{asked}: this model reads performance events, which have no bars or keys; a model "
                          "trained with --codec remi takes them")
    return codec


def _check_meter(codec: MetricalCodec, opening: Opening, ids: list[int]) -> None:
    meter = opening.meter
    if meter not in codec.meters:
        raise SeqgenError(f"--meter {meter}: not a time signature the model writes; it writes "
                          f"{', '.join(codec.meters)}")
    written = [name for name, i in codec.meters.items() if i in ids]
    if written and written != [meter]:
        raise SeqgenError(f"{opening.name()}: is in {', '.join(written)}; --meter {meter} asks for another metre")


def _mode(key: int) -> str:
    return "minor" if key >= 12 else "major"
