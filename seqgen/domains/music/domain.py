"""The music domain: which files it reads, its codecs (metrical REMI, performance events) and their options,
pieces as primers and samples (--midi/--wav/--plot), whole pieces scored per token, note and second, and what
`info` says of its data."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqgen.choices import MAX_NOTE_SECONDS
from seqgen.codecs import Codec, NoteEventCodec
from seqgen.config import Option
from seqgen.corpora import Corpus
from seqgen.domains.base import (
    Domain,
    Inputs,
    ReadSettings,
    Report,
    SampleRequest,
    SampleRun,
    ScoreRequest,
    TrainingData,
    check_seconds,
    default_of,
    scoring_precision,
)
from seqgen.domains.music.checkup import musicality_check, musicality_rows
from seqgen.domains.music.data import CODECS, read_music_data
from seqgen.domains.music.files import MUSIC_SUFFIXES
from seqgen.domains.music.metrical import TEMPO, MetricalCodec
from seqgen.domains.music.opening import Opening, at_tempo, check_tempo, opening_bans, opening_ids
from seqgen.domains.music.output import read_piece, write_pieces
from seqgen.domains.music.played_time import PlayedTime, played_seconds
from seqgen.domains.music.protocol import EventCodec
from seqgen.domains.music.scoring import PieceScore, score_pieces, show_pieces
from seqgen.errors import SeqgenError
from seqgen.midi import pretty_midi

if TYPE_CHECKING:
    import numpy as np

    from seqgen.sample import Costs
    from seqgen.trained import Model

NAME = NoteEventCodec.domain


def _speed(tempo: float | None) -> float:
    """How many times faster than the metrical decoder's 120 quarter notes per minute a piece is played at `tempo`
    (None: at 120)."""
    return (tempo or TEMPO) / TEMPO

FOLK = Corpus(
    name="folk",
    domain=NAME,
    description="folk tunes: Ryan's Mammoth Collection, O'Neill's 1850, Aird's Airs "
                "(Irish, Scottish) and the Essen folksong collection (mostly German), from ABC files",
    licence="public-domain tunes; transcriptions distributed with music21 (BSD-3-Clause corpus)",
    folders=("ryansMammoth", "oneills1850", "airdsAirs", "essenFolksong"),
)
CHORALES = Corpus(
    name="chorales",
    domain=NAME,
    description="J. S. Bach's four-part chorales (MusicXML and Humdrum files)",
    licence="public-domain music; encodings distributed with music21 (BSD-3-Clause corpus)",
    folders=("bach",),
    unit="chorales",
    # 3.5 hours of music overfit within minutes: 600 s on 2 cores gave 1.244 nats/event (best, at step
    # 750 of 1489) without these, 1.049 (still falling at the end) with them
    train_defaults=(("transpose", 3), ("dropout", 0.2)),
)


class MusicDomain(Domain):
    """Note-event models of MIDI performances and scores."""

    name = NAME
    plural = "music"
    suffixes = MUSIC_SUFFIXES
    options = (
        Option("codec", str, "How music becomes tokens. remi: bars, positions in the bar, pitches and durations "
               "in beats (MidiTok's REMI), so the model sees the metre; performance: note-on/off events and 10 ms "
               "time shifts, for expressive playing with no grid; auto: remi for scores (ABC, MusicXML, Humdrum, "
               "the folk and chorales corpora) and for MIDI files whose notes sit on a beat grid, performance for "
               "other MIDI files.", "auto", choices=CODECS, domain=NAME, role="codec"),
        # the performance codec's settings: None unless given, so that giving one chooses that codec under auto
        Option("step_ms", float, "Performance codec: time resolution in milliseconds.", low=0, low_open=True,
               default_text=f"{default_of(NoteEventCodec, 'step_ms'):g}", domain=NAME, role="codec"),
        Option("max_shift_ms", float, "Performance codec: longest single time-shift event in milliseconds.",
               low=0, low_open=True, cli=False, default_text=f"{default_of(NoteEventCodec, 'max_shift_ms'):g}",
               domain=NAME, role="codec"),
        Option("velocity_bins", int, "Performance codec: loudness levels.", low=1, high=127,
               default_text=str(default_of(NoteEventCodec, "velocity_bins")), domain=NAME, role="codec"),
        Option("drums", bool, "Performance codec: keep drum tracks (left out by default).", domain=NAME,
               role="codec"),
        Option("program", int, "General MIDI program written into sampled MIDI files.",
               default_of(NoteEventCodec, "program"), low=0, high=127, cli=False, domain=NAME, role="codec"),
    )
    data_flags = ("transpose",)
    default_length = 2000  # events
    # No end of piece before this many events (~100 notes): a model may take a phrase's close for the piece's
    default_min_length = 300
    # ... or this many metrical tokens (~45 notes as written, about 8 bars of a reel; repeats play them twice):
    # the folk corpus averages 245 tokens a tune, and samples of the default run allowed to end at once ended
    # after 16 and 31 notes
    min_metrical_tokens = 150
    documents_word = "piece(s)"
    flag_help = {"sample": "A music model writes them: --midi OUT.mid (with --num N: OUT-1.mid ... OUT-N.mid), --wav "
                           "OUT.wav (real instruments through a General MIDI soundfont: FluidSynth where it is "
                           "installed, else rustysynth, which comes with seqgen) and --plot OUT.png (a piano roll).",
                 "sample --min-length": f"music with the metrical codec {min_metrical_tokens}",
                 "sample --meter": "the time signature every bar of a new piece has, e.g. 6/8, 4/4, 3/4 (metrical "
                                   "models)",
                 "sample --key": "the key a new piece is in, e.g. D, Bm, F# minor (metrical models; a "
                                 "--prime-midi piece is moved to it)",
                 "sample --tempo": "quarter notes per minute the written piece is played at (metrical models; "
                                   "default 120)"}
    corpora = (FOLK, CHORALES)
    sample_flags = ("meter", "key", "tempo")
    page_views = ("compose",)

    def read_data(self, inputs: Inputs, codec: Codec | None, settings: ReadSettings) -> TrainingData:
        return read_music_data(inputs, codec, settings)

    def after_training(self, load: Callable[[], Model], val: np.ndarray) -> dict[str, Any]:
        """Samples of the best weights beside the held-out pieces on the musicality measures (see checkup)."""
        if len(val) <= 1:
            return {}
        return {"musicality": musicality_check(load(), val)}

    # --- sampling -----------------------------------------------------------------------------------
    def primer_ids(self, model: Model, prime: Any) -> list[int]:
        """A MIDI/score file's first piece, or a PrettyMIDI, as events; an `Opening` as its piece moved to the key
        it asks for, or that key's token."""
        if prime is None:
            return []
        if isinstance(prime, Opening):
            return opening_ids(model.codec, prime)
        return model.codec.encode(prime if isinstance(prime, pretty_midi.PrettyMIDI) else read_piece(Path(prime)))

    def prime_bans(self, codec: Codec, prime: Any) -> list[int]:
        """An `Opening`'s metre: every other time signature."""
        return opening_bans(codec, prime) if isinstance(prime, Opening) else []

    def sample_limit(self, codec: Codec, length: int, seconds: float,
                     options: Mapping[str, Any] | None = None) -> tuple[int, Costs | None, float | None]:
        """Each sample stops before it would last longer than `seconds`: a performance model's time shifts, a
        metrical model's bars as played, its repeats played out (see played_time), at the `tempo` in `options`
        (the codec times bars at 120 quarter notes per minute: at 60, a piece lasts twice as long)."""
        check_seconds(seconds)
        if isinstance(codec, MetricalCodec):
            return length, PlayedTime(codec), seconds * _speed((options or {}).get("tempo"))
        events: EventCodec = codec
        return length, events.token_seconds.tolist(), seconds

    def min_length(self, codec: Codec) -> int:
        return self.min_metrical_tokens if isinstance(codec, MetricalCodec) else self.default_min_length

    def untrained_ids(self, codec: Codec, config: dict[str, Any]) -> list[int]:
        """Notes outside the pitch range of the training data (transposition included): the model has never
        seen them, and a sample that wanders there has lost its way."""
        span = config.get("data", {}).get("pitch_range")
        if not span:
            return []
        low, high = span
        events: EventCodec = codec
        return events.pitch_ids([p for p in range(128) if not low <= p <= high])

    def decode_samples(self, codec: Codec, prime: Any, primer: list[int], outs: list[list[int]],
                       **options: Any) -> list[pretty_midi.PrettyMIDI]:
        """PrettyMIDI pieces, primer included; notes held longer than `max_note_seconds` are ended; a metrical
        model's pieces are played at `tempo` quarter notes per minute (default 120)."""
        limit = options.get("max_note_seconds", MAX_NOTE_SECONDS)
        tempo = options.get("tempo")
        if tempo is not None:
            check_tempo(codec)
        pieces = [codec.decode(primer + ids, limit) for ids in outs]
        return [at_tempo(pm, tempo) for pm in pieces] if tempo is not None else pieces

    def sample_prime(self, request: SampleRequest) -> Opening:
        return Opening(request.prime_file, request.asked.get("meter"), request.asked.get("key"))

    def check_sample_request(self, model: Model, request: SampleRequest) -> None:
        if request.wants("out"):
            raise SeqgenError("--out writes waveform samples; this model is not a waveform model")
        if request.prime is not None:
            raise SeqgenError("--prime is text; a music model continues a piece given with --prime-midi FILE")
        if request.asked.get("tempo") is not None:
            check_tempo(model.codec)
        if not request.wants("midi", "wav", "plot"):
            raise SeqgenError(f"{model.path} is a music model: give --midi OUT.mid, --wav OUT.wav and/or "
                              "--plot OUT.png to receive its samples")

    @staticmethod
    def _primer_seconds(codec: Codec, primer: list[int], request: SampleRequest) -> float:
        """Where the primer ends in the written pieces: its time shifts, or a metrical primer's bars as played
        (its repeats played out) at the tempo asked."""
        if not isinstance(codec, MetricalCodec):
            events: EventCodec = codec
            return events.seconds(primer)
        return played_seconds(codec, primer) / _speed(request.asked.get("tempo"))

    def write_samples(self, model: Model, request: SampleRequest, run: SampleRun, report: Report) -> None:
        primer_s = self._primer_seconds(model.codec, run.primer, request) if request.prime_file is not None else None
        records = [{"index": i, "seed": run.seed, "events": len(ids)} for i, ids in enumerate(run.outs, 1)]
        written = write_pieces(run.samples, request, primer_s, records, report)
        for r in records:
            if request.as_json:
                report.show(json.dumps(r, ensure_ascii=False))
            elif "files" in r:
                report.show(f"sample {r['index']}: {r['events']} events, {r['notes']} -> {', '.join(r['files'])}")
        if not written:
            raise SeqgenError("no sample could be written as music")

    # --- scoring ------------------------------------------------------------------------------------
    def score_files(self, model: Model, paths: Sequence[str | Path], batch_size: int = 16,
                    precision: str = "auto") -> tuple[list[PieceScore], list[str]]:
        """Every piece in music files or folders, scored whole (see `Model.score_music`)."""
        return score_pieces(model.net, model.codec, paths, batch_size, precision)

    def score_request(self, model: Model, request: ScoreRequest, report: Report) -> None:
        chosen = scoring_precision(request, model.device, report)
        if request.files or request.document:
            raise SeqgenError("a music model scores music files given as arguments; --file/--document are for text")
        if not request.items:
            raise SeqgenError("nothing to score: give music files or folders (.mid, .abc, .musicxml, ...)")
        results, skipped = self.score_files(model, request.items, request.batch_size, chosen)
        show_pieces(results, skipped, request.per_token, request.as_json, report)

    def info_rows(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        data = config.get("data", {})
        rows = [("music", f"{data.get('hours', 0)} hours; transposition +-{data.get('transpose', 0)} semitones; "
                          f"{data.get('skipped', 0)} piece(s) skipped")]
        return rows + [("", f"skipped {s}") for s in data.get("skipped_examples", [])] + \
            musicality_rows(config.get("musicality", {}))


MUSIC = MusicDomain()
