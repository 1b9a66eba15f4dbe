"""Music in and out of `seqgen sample`: primer pieces read from files, and sampled pieces written as MIDI, WAV and
piano-roll PNG files (also for a text model's samples that parse as ABC tunes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seqgen.domains.base import Report, SampleRequest, numbered
from seqgen.domains.music.files import MUSIC_SUFFIXES, abc_to_midi, is_music_file, piece_sources, read_source
from seqgen.errors import SeqgenError
from seqgen.midi import pretty_midi


def read_piece(path: Path) -> pretty_midi.PrettyMIDI:
    """The first piece of a music file, as a primer."""
    if not path.is_file():
        raise SeqgenError(f"{path}: no such file")
    if not is_music_file(path):
        raise SeqgenError(f"{path}: not a music file (music files end in {', '.join(MUSIC_SUFFIXES)})")
    sources = piece_sources(path)
    if not sources:
        raise SeqgenError(f"{path}: holds no music")
    return read_source(sources[0])[0][1]


def describe(pm: pretty_midi.PrettyMIDI) -> str:
    """Notes, length and pitch range of a piece, in one line."""
    notes = [n for inst in pm.instruments for n in inst.notes]
    if not notes:
        return "no notes"
    low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
    return (f"{len(notes)} notes, {pm.get_end_time():.1f} s, pitches {low}-{high} "
            f"({pretty_midi.note_number_to_name(low)}-{pretty_midi.note_number_to_name(high)})")


def abc_pieces(texts: Sequence[str], report: Report) -> list[pretty_midi.PrettyMIDI | None]:
    """Each text sample as music when it parses as an ABC tune; None (and a note) when not."""
    out: list[pretty_midi.PrettyMIDI | None] = []
    for i, text in enumerate(texts, 1):
        try:
            out.append(abc_to_midi(text, f"sample {i}"))
        except SeqgenError as e:
            report.note(f"seqgen: {e}; no music written for it")
            out.append(None)
    return out


def write_pieces(pieces: Sequence[pretty_midi.PrettyMIDI | None], request: SampleRequest, primer_s: float | None,
                 records: list[dict], report: Report) -> int:
    """Write each piece to the files asked for (--midi, --wav, --plot); record what went where. Returns how many
    pieces were written."""
    from seqgen.render import plot_piano_roll, render_wav

    midi, wav, plot = (request.outputs.get(k) for k in ("midi", "wav", "plot"))
    synth_said = False
    written = 0
    for i, (pm, record) in enumerate(zip(pieces, records, strict=False), 1):
        if pm is None:
            continue
        if not any(inst.notes for inst in pm.instruments):
            report.note(f"seqgen: sample {i} has no notes (it ended at once); no files written for it")
            continue
        files = []
        if midi:
            path = numbered(midi, i, request.num)
            from seqgen.checkpoint import write_file

            write_file(path, pm.write)
            files.append(str(path))
        if wav:
            path = numbered(wav, i, request.num)
            synth = render_wav(pm, path)
            files.append(str(path))
            if not synth_said:
                report.note(f"audio: {synth}")
                synth_said = True
        if plot:
            path = numbered(plot, i, request.num)
            plot_piano_roll(pm, path, title=f"sample {i}", primer_seconds=primer_s)
            files.append(str(path))
        record.update(notes=describe(pm), files=files)
        written += 1
    return written
