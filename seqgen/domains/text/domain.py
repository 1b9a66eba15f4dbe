"""The text domain: which files it reads (any not claimed by another domain), primers and stops as strings,
samples printed, and texts scored; a model of ABC notation can also write its samples as music."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqgen.codecs import CharCodec, Codec
from seqgen.corpora import Corpus
from seqgen.data import read_text
from seqgen.domains.base import (
    Domain,
    Inputs,
    ReadSettings,
    Report,
    SampleRequest,
    SampleRun,
    ScoreRequest,
    TrainingData,
    scoring_precision,
)
from seqgen.domains.text.data import read_text_data
from seqgen.domains.text.protocol import CharacterCodec
from seqgen.domains.text.scoring import TextScore, score_texts, show_scores
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.trained import Model

FOLK_ABC = Corpus(
    name="folk-abc",
    domain=CharCodec.domain,
    description="Irish and Scottish folk tunes in ABC notation, read as text "
                "(Ryan's Mammoth Collection, O'Neill's 1850, Aird's Airs)",
    licence="public-domain tunes; transcriptions distributed with music21 (BSD-3-Clause corpus)",
    folders=("ryansMammoth", "oneills1850", "airdsAirs"),
)


class TextDomain(Domain):
    """Character models of UTF-8 text: the domain of every file no other domain claims."""

    name = CharCodec.domain
    plural = "text"
    data_flags = ("sentences",)
    default_length = 500  # characters
    flag_help = {"sample": "A text model prints its samples; one trained on ABC notation (the folk-abc corpus) can "
                           "write --midi/--wav/--plot too, for each sample that parses as an ABC tune."}
    corpora = (FOLK_ABC,)
    page_views = ("write", "score")

    def read_data(self, inputs: Inputs, codec: Codec | None, settings: ReadSettings) -> TrainingData:
        from seqgen.domains import unclaimed_files

        return read_text_data(inputs, codec, settings, unclaimed_files())

    # --- sampling -----------------------------------------------------------------------------------
    def known_ids(self, codec: CharacterCodec, text: str, option: str) -> list[int]:
        """Token ids of a text primer or stop string; unseen characters are an error, not silently <unk>."""
        bad = codec.unknown_chars(text)
        if bad:
            shown = ", ".join(repr(c) for c in bad[:10])
            raise SeqgenError(f"{option}: character(s) {shown} never occur in this model's training data")
        return codec.encode(text)

    def primer_ids(self, model: Model, prime: Any) -> list[int]:
        return self.known_ids(model.codec, str(prime), "--prime") if prime else []

    def sample_limit(self, codec: Codec, length: int, seconds: float,
                     options: Mapping[str, Any] | None = None) -> tuple[int, list[float] | None, float | None]:
        raise SeqgenError("--seconds is for music and waveform models; text counts --length characters")

    def decode_samples(self, codec: Codec, prime: Any, primer: list[int], outs: list[list[int]],
                       **options: Any) -> list[str]:
        return [(str(prime) if prime else "") + codec.decode(ids) for ids in outs]

    def check_sample_request(self, model: Model, request: SampleRequest) -> None:
        if request.wants("out"):
            raise SeqgenError("--out writes waveform samples; this model is not a waveform model")
        if request.prime_file is not None:
            raise SeqgenError("--prime-midi is for music models; a text model continues --prime TEXT")

    def write_samples(self, model: Model, request: SampleRequest, run: SampleRun, report: Report) -> None:
        """Show the texts; with --midi/--wav/--plot, write each one that parses as an ABC tune as music."""
        from seqgen.domains.music.output import abc_pieces, write_pieces

        num = request.num
        records = [{"index": i, "seed": run.seed, "text": t} for i, t in enumerate(run.samples, 1)]
        if not request.as_json:
            for i, text in enumerate(run.samples, 1):
                if num > 1:
                    report.show(f"==> sample {i}/{num} <==")
                report.show(text if num == 1 or text.endswith("\n") else text + "\n")
        wants_files = request.wants("midi", "wav", "plot")
        pieces = abc_pieces(run.samples, report) if wants_files else []
        written = write_pieces(pieces, request, None, records, report)
        for r in records:
            if request.as_json:
                report.show(json.dumps(r, ensure_ascii=False))
            elif "files" in r:
                report.note(f"sample {r['index']}: {r['notes']} -> {', '.join(r['files'])}")
        if wants_files and not written:
            raise SeqgenError("no sample could be written as music")

    # --- scoring ------------------------------------------------------------------------------------
    def score_texts(self, model: Model, texts: str | Sequence[str], batch_size: int = 64,
                    precision: str = "auto") -> list[TextScore]:
        """Log-probability of each text as a whole (see `Model.score`)."""
        return score_texts(model.net, model.codec, [texts] if isinstance(texts, str) else list(texts),
                           batch_size, precision)

    def score_request(self, model: Model, request: ScoreRequest, report: Report) -> None:
        chosen = scoring_precision(request, model.device, report)
        results = self.score_texts(model, _texts(request), request.batch_size, chosen)
        show_scores(results, request.per_token, request.as_json, report)


def _texts(request: ScoreRequest) -> list[str]:
    """TEXT arguments, then each --file's non-empty lines (or the whole file with --document)."""
    out = list(request.items)
    for f in request.files:
        body = request.read_stdin() if f == "-" else read_text(Path(f))
        out.extend([body] if request.document else [ln for ln in body.splitlines() if ln.strip()])
    if not out:
        raise SeqgenError("nothing to score: give TEXT arguments, --file F, or --file - for standard input")
    return out


TEXT = TextDomain()
