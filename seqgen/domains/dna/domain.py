"""The DNA domain: FASTA files (plain or gzip) read into one nucleotide stream, primers as bases or a FASTA
file, samples printed or written as FASTA (--out), and records scored per base and per window."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from seqgen.codecs import Codec
from seqgen.data import split_stream, to_array
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
from seqgen.domains.dna.codec import NucleotideCodec
from seqgen.domains.dna.fasta import SUFFIXES, format_fasta, read_fasta
from seqgen.domains.dna.scoring import RecordScore, calibrate_windows, calibrated_threshold, score_records
from seqgen.errors import SeqgenError

if TYPE_CHECKING:
    from seqgen.domains.text.scoring import TextScore
    from seqgen.trained import Model

DEFAULT_WINDOW = 1000  # bases per scored window


class DnaDomain(Domain):
    """Nucleotide models of genomes and other DNA sequences."""

    name = NucleotideCodec.domain
    plural = "DNA"
    suffixes = SUFFIXES
    default_length = 1000  # bases
    documents_word = "record(s)"
    page_views = ("write", "score")
    flag_help = {"sample": "A DNA model prints FASTA or writes it to --out OUT.fa.",
                 "sample --out": "the samples as one FASTA file (.fa, .fasta, .fna; .gz compresses)",
                 "score --window": f"bases per window  [default: {DEFAULT_WINDOW}]",
                 "score --threshold": "bits per base above which a window is unusual  [default: calibrated on the "
                                      "validation bases at training time for this --window]"}

    def read_data(self, inputs: Inputs, codec: Codec | None, settings: ReadSettings) -> TrainingData:
        """Every record as `<start>` bases `<end>`, in file order, as one stream whose tail validates."""
        codec = codec or NucleotideCodec()
        parts, records, bases, gc = [], 0, 0, 0
        for path in inputs.files:
            for record in read_fasta(path):
                try:
                    ids = codec.encode_array(record.bases)
                except ValueError as e:
                    raise SeqgenError(f"{path}: record {record.name}: {e}") from None
                parts.append(np.concatenate([codec.start_ids, ids, codec.end_ids]).astype(codec.token_dtype))
                records, bases = records + 1, bases + len(ids)
                gc += sum(record.bases.upper().count(b) for b in (b"G", b"C", b"S"))
        tokens = to_array(np.concatenate(parts), codec.vocab_size)
        train, val = split_stream(tokens, settings.val_fraction)
        if len(train) < 2:
            raise SeqgenError(f"too few bases to train on ({bases})")
        summary = {"documents": records, "bases": bases, "gc": round(gc / bases, 4), "tokens": int(len(tokens)),
                   "train_tokens": int(len(train)), "val_tokens": int(len(val))}
        return TrainingData(codec, train, val, summary)

    def after_training(self, load: Callable[[], Model], val: np.ndarray) -> dict[str, Any]:
        """Thresholds for unusual windows, measured with the run's best weights on its validation bases."""
        if len(val) <= 1:
            return {}
        model = load()
        calibration = calibrate_windows(model.net, model.codec, val)
        return {"unusual": calibration} if calibration else {}

    def info_rows(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        data = config.get("data", {})
        return [("dna", f"{data.get('bases', 0):,} bases, GC {data.get('gc', 0):.1%}")]

    # --- sampling -----------------------------------------------------------------------------------
    def primer_ids(self, model: Model, prime: Any) -> list[int]:
        """Bases given as text, or the first record of a FASTA file."""
        if not prime:
            return []
        path = Path(str(prime))
        bases = read_fasta(path)[0].bases if self.claims(path) and path.is_file() else str(prime).encode()
        try:
            return model.codec.encode_array(bases).tolist()
        except ValueError as e:
            raise SeqgenError(f"--prime: {e}") from None

    def sample_limit(self, codec: Codec, length: int, seconds: float,
                     options: Mapping[str, Any] | None = None) -> tuple[int, list[float] | None, float | None]:
        raise SeqgenError("--seconds is for music and waveform models; DNA counts --length bases")

    def decode_samples(self, codec: Codec, prime: Any, primer: list[int], outs: list[list[int]],
                       **options: Any) -> list[str]:
        """Each sample's bases, primer included."""
        return [codec.decode(primer + ids) for ids in outs]

    def check_sample_request(self, model: Model, request: SampleRequest) -> None:
        given = [f"--{k}" for k in ("midi", "wav", "plot") if request.wants(k)]
        if request.prime_file is not None:
            given.append("--prime-midi")
        if given:
            raise SeqgenError(f"{', '.join(given)}: not for DNA models; a DNA model prints FASTA or writes "
                              "--out OUT.fa")
        out = request.outputs.get("out")
        if out is not None and not self.claims(out):
            raise SeqgenError(f"{out}: a DNA model writes FASTA ({', '.join(SUFFIXES)})")

    def write_samples(self, model: Model, request: SampleRequest, run: SampleRun, report: Report) -> None:
        """All samples as one FASTA file (--out; gzip for .gz) or on standard output, records `sample-N`."""
        fasta = format_fasta([(f"sample-{i} seed={run.seed}", s) for i, s in enumerate(run.samples, 1)])
        out = request.outputs.get("out")
        if out is not None:
            data = fasta.encode()
            from seqgen.checkpoint import write_file

            write_file(out, lambda tmp: Path(tmp).write_bytes(gzip.compress(data) if out.name.endswith(".gz")
                                                              else data))
        for i, s in enumerate(run.samples, 1):
            record = {"index": i, "seed": run.seed, "bases": len(s),
                      **({"files": [str(out)]} if out is not None else {"sequence": s})}
            if request.as_json:
                report.show(json.dumps(record))
            elif out is not None:
                report.show(f"sample {i}: {len(s):,} bases -> {out}")
        if out is None and not request.as_json:
            report.show(fasta.rstrip("\n"))

    # --- scoring ------------------------------------------------------------------------------------
    def score_texts(self, model: Model, texts: str | Sequence[str], batch_size: int = 64,
                    precision: str = "auto") -> list[TextScore]:
        """Log-probability of each sequence of bases (whitespace ignored) as a whole record, `<end>` included, with
        every base's own log-probability (see `Model.score`): what `seqgen serve` colours by surprise."""
        from seqgen.domains.text.scoring import TextScore
        from seqgen.score import score_sequences  # torch: imported when scoring, not when the domain is

        codec: NucleotideCodec = model.codec
        items = [texts] if isinstance(texts, str) else list(texts)
        seqs = []
        for text in items:
            try:
                seqs.append(codec.encode("".join(text.split())) + list(codec.end_ids))
            except ValueError as e:
                raise SeqgenError(f"{text[:20]!r}: {e}") from None
        results = score_sequences(model.net, seqs, codec.start_ids, batch_size=batch_size, precision=precision)
        return [TextScore(text, r, [codec.token_name(i) for i in seq], [])
                for text, seq, r in zip(items, seqs, results, strict=True)]

    def score_request(self, model: Model, request: ScoreRequest, report: Report) -> None:
        if request.files or request.document or not request.items:
            raise SeqgenError("a DNA model scores FASTA files given as arguments: seqgen score -c CKPT genome.fa")
        chosen = scoring_precision(request, model.device, report)
        window = DEFAULT_WINDOW if request.window is None else int(request.window)
        threshold = request.threshold
        if threshold is None:
            threshold = calibrated_threshold(model.config.get("unusual", {}), window)
        scores = score_records(model.net, model.codec, request.items, window, threshold, request.batch_size, chosen)
        for s in scores:
            _show(s, request.as_json, report)


def _show(score: RecordScore, as_json: bool, report: Report) -> None:
    if as_json:
        report.show(json.dumps(score.to_dict()))
        return
    report.show(f"logprob {score.logprob:12.2f}  bits/base {score.bits_per_base:6.3f}  bases {score.bases:,}  "
                f"{score.file} {score.name}")
    for w in score.windows:
        flag = "  UNUSUAL" if w.unusual else ""
        report.show(f"    {w.start:>12,}-{w.end:<12,} bits/base {w.bits_per_base:6.3f}{flag}")
    if score.windows and score.windows[0].unusual is not None:
        flagged = sum(bool(w.unusual) for w in score.windows)
        report.note(f"{score.file} {score.name}: {flagged} of {len(score.windows)} window(s) above the threshold")


DNA = DnaDomain()
