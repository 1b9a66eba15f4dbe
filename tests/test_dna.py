"""DNA end to end on a synthetic genome made here: an AT-rich random background, a planted repeat family (copies
of one 120-base consensus with 10 % substitutions) and, in one held-out record, a GC-rich foreign insert.

The model must beat an order-5 k-mer model of the same training bases on held-out bases (only a model that
remembers the repeat family can), and the insert's windows must be the most surprising ones and the only ones
above the threshold calibrated after training."""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from seqgen.cli.main import cli

from seqgen.domains.dna.codec import BASES, NucleotideCodec
from seqgen.domains.dna.fasta import read_fasta

ACGT = np.array(list("ACGT"))
BACKGROUND = [0.32, 0.18, 0.18, 0.32]  # GC 36 %
FOREIGN = [0.1, 0.4, 0.4, 0.1]  # GC 80 %
INSERT = (2000, 3500)  # bases of the second held-out record
WINDOW = 250


def _genome(rng: np.random.Generator, consensus: np.ndarray, n: int) -> str:
    """Background stretches (mean 150 bases) alternating with mutated copies of the repeat consensus."""
    parts, size = [], 0
    while size < n:
        background = rng.choice(ACGT, size=int(rng.exponential(150)) + 20, p=BACKGROUND)
        copy = consensus.copy()
        hit = rng.random(len(copy)) < 0.1
        copy[hit] = rng.choice(ACGT, size=int(hit.sum()))
        parts += [background, copy]
        size += len(background) + len(copy)
    return "".join(np.concatenate(parts))[:n]


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(11)
    consensus = rng.choice(ACGT, size=120)
    folder = tmp_path_factory.mktemp("dna")
    train = _genome(rng, consensus, 60_000)
    train = train[:30_000] + train[30_000:30_600].lower() + train[30_600:]  # soft-masked: case folds
    lines = [train[i : i + 70] for i in range(0, len(train), 70)]
    (folder / "genome.fa.gz").write_bytes(gzip.compress((">chr1 synthetic\n" + "\n".join(lines) + "\n").encode()))
    clean = _genome(rng, consensus, 6000)
    host = _genome(rng, consensus, 6000)
    insert = "".join(rng.choice(ACGT, size=INSERT[1] - INSERT[0], p=FOREIGN))
    host = host[: INSERT[0]] + insert + host[INSERT[1] :]
    (folder / "held.fasta").write_text(f">clean\n{clean}\n>host with insert\n{host}\n")
    (folder / "train.txt").write_text(train.upper())
    return folder


def run(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def kmer_bits(train: str, test: str, k: int = 5) -> float:
    """Bits per base of `test` under an order-k Markov model of `train` (add-1/2 counts); the first k bases,
    with no full context, cost 2 bits each."""
    counts: Counter[str] = Counter(train[i : i + k + 1] for i in range(len(train) - k))
    contexts: Counter[str] = Counter(train[i : i + k] for i in range(len(train) - k))
    bits = 2.0 * k
    for i in range(k, len(test)):
        p = (counts[test[i - k : i + 1]] + 0.5) / (contexts[test[i - k : i]] + 2.0)
        bits -= math.log2(p)
    return bits / len(test)


def test_codec_folds_case_and_knows_the_iupac_codes():
    codec = NucleotideCodec()
    assert codec.decode(codec.encode("acgtNRYSWKMBDHV")) == "ACGTNRYSWKMBDHV" == BASES
    assert codec.encode_document("A") == [*codec.start_ids, codec.encode("A")[0], *codec.end_ids]
    with pytest.raises(ValueError, match="'X' at base 3"):
        codec.encode("ACX")


def test_fasta_records_skip_headers_and_read_gzip(genome: Path):
    records = read_fasta(genome / "genome.fa.gz")
    assert [r.name for r in records] == ["chr1"] and len(records[0].bases) == 60_000
    held = read_fasta(genome / "held.fasta")
    assert [r.name for r in held] == ["clean", "host"] and held[1].header == "host with insert"


def test_dna_trains_samples_fasta_and_scores_records_and_windows(genome: Path, tmp_path: Path):
    ckpt = tmp_path / "ck"
    r = run("train", genome / "genome.fa.gz", "--cell", "gru", "--layers", 1, "--hidden", 128, "--embed", 16,
            "-b", 32, "-t", 128, "--lr", 0.01, "--max-steps", 800, "--eval-every", 800, "--out", ckpt, "-q")
    assert r.exit_code == 0, r.output
    info = json.loads(run("info", "-c", ckpt, "--json").stdout)
    assert info["domain"] == "dna" and info["data"]["bases"] == 60_000 and info["data"]["documents"] == 1

    r = run("score", "-c", ckpt, genome / "held.fasta", "--window", WINDOW, "--json")
    assert r.exit_code == 0, r.output
    clean, host = (json.loads(line) for line in r.stdout.splitlines())
    train = (genome / "train.txt").read_text()
    held = read_fasta(genome / "held.fasta")[0].bases.decode()
    baseline = kmer_bits(train, held)
    assert clean["bits_per_base"] < baseline - 0.05, (clean["bits_per_base"], baseline)
    top = sorted(host["windows"], key=lambda w: -w["bits_per_base"])[: (INSERT[1] - INSERT[0]) // WINDOW]
    assert all(INSERT[0] <= w["start"] and w["end"] <= INSERT[1] for w in top), top
    # flagged by the threshold calibrated on the validation bases after training: the insert, and nothing else
    flagged = [(w["start"], w["end"]) for w in host["windows"] if w["unusual"]]
    assert flagged == [(s, s + WINDOW) for s in range(*INSERT, WINDOW)], host["windows"]
    assert not any(w["unusual"] for w in clean["windows"]), clean["windows"]

    out = tmp_path / "samples.fa"
    r = run("sample", "-c", ckpt, "--out", out, "--num", 2, "--length", 300, "--seed", 1, "--prime", "acgt")
    assert r.exit_code == 0, r.output
    samples = read_fasta(out)
    assert len(samples) == 2 and all(s.bases.startswith(b"ACGT") and 4 < len(s.bases) <= 304 for s in samples)
    assert set(b"".join(s.bases for s in samples)) <= set(BASES.encode())
    printed = run("sample", "-c", ckpt, "--length", 50, "--seed", 1)
    assert printed.exit_code == 0 and printed.stdout.startswith(">sample-1 seed=1\n"), printed.output
    refused = run("sample", "-c", ckpt, "--midi", tmp_path / "x.mid")
    assert refused.exit_code != 0 and "not for DNA models" in refused.stderr
