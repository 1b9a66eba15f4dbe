"""The bad-input table: every broken file, option or checkpoint is one clean `seqgen: error:` line, no traceback,
and nothing half-written (no new checkpoint folder, no output file, the previous checkpoint unchanged)."""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import re
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner, Result
from helpers import assert_clean_error, assert_clean_exit
from seqgen.cli.main import cli

import seqgen

SHAKESPEARE = Path(__file__).parent / "data" / "shakespeare-60k.txt"
TINY = ["--cell", "gru", "--layers", "1", "--hidden", "16", "--embed", "8", "-b", "4", "-t", "16", "-q"]
RATE = 2000


class Marker:
    """A pickle whose loading would create a file: proof that loading a checkpoint runs no code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple:
        return (open, (self.path, "w"))


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny text model and one tiny waveform model (a 2 s tone), trained once for the whole table."""
    root = tmp_path_factory.mktemp("bad-inputs")
    text = root / "text.txt"
    text.write_text(SHAKESPEARE.read_text(encoding="utf-8")[:4000], encoding="utf-8")
    tone = root / "tone.wav"
    t = np.arange(2 * RATE) / RATE
    soundfile.write(tone, 0.5 * np.sin(2 * np.pi * 220 * t), RATE)
    small = dict(cell="gru", layers=1, hidden=16, embed=8, batch_size=4, seq_len=16, max_steps=20, eval_every=10,
                 device="cpu")
    seqgen.train(text, root / "text-ckpt", **small)
    seqgen.train(tone, root / "wave-ckpt", **small)
    return {"text": root / "text-ckpt", "wave": root / "wave-ckpt", "tone": tone, "textfile": text}


@dataclass
class Case:
    """A bad input: `make(tmp, ckpts)` builds the files and returns the CLI arguments; `error` must match the
    one stderr line; `absent` are paths (relative to tmp) that must not exist afterwards; `unchanged` is a
    checkpoint copied to tmp/ckpt whose files must stay byte for byte the same; `ok` marks an input that is
    hard but valid and must succeed, and then `check(tmp, result)` asserts what the case's name promises."""

    name: str
    make: Callable[[Path, dict[str, Path]], list[str]]
    error: str = ""
    absent: tuple[str, ...] = ()
    unchanged: str | None = None
    ok: bool = False
    check: Callable[[Path, Result], None] | None = None


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def train_on(name: str, data: bytes | str, *extra: str) -> Callable[[Path, dict[str, Path]], list[str]]:
    """`seqgen train FILE --out tmp/out` on a file holding `data`."""
    return lambda tmp, _: ["train", str(write(tmp / name, data)), "--out", str(tmp / "out"), *TINY,
                           "--max-steps", "2", *extra]


def train_opts(*extra: str) -> Callable[[Path, dict[str, Path]], list[str]]:
    return lambda tmp, c: ["train", str(c["textfile"]), "--out", str(tmp / "out"), *TINY, "--max-steps", "2", *extra]


def sample_text(*extra: str) -> Callable[[Path, dict[str, Path]], list[str]]:
    return lambda tmp, c: ["sample", "-c", str(c["text"]), "--length", "5", "--seed", "1", *extra]


def sample_wave(*extra: str) -> Callable[[Path, dict[str, Path]], list[str]]:
    return lambda tmp, c: ["sample", "-c", str(c["wave"]), "--length", "50", "--seed", "1",
                           "--wav", str(tmp / "out.wav"), *extra]


def midi_bytes(notes: int, tempo_us: int = 500_000, rest: int = 0) -> bytes:
    """A format-0 MIDI file of `notes` short notes at `tempo_us` microseconds per quarter, each after a rest of
    `rest` ticks, written raw (fast)."""
    delta = [rest & 0x7F]
    while rest := rest >> 7:
        delta.insert(0, 0x80 | rest & 0x7F)
    events = bytearray(b"\x00\xff\x51\x03" + tempo_us.to_bytes(3, "big"))
    for i in range(notes):
        pitch = 40 + i % 40
        events += bytes([*delta, 0x90, pitch, 80, 1, 0x80, pitch, 0])
    events += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">I", len(events)) + bytes(events)


def wav(name: str, data: np.ndarray, rate: int = RATE, subtype: str = "FLOAT") -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        soundfile.write(tmp / name, data, rate, subtype=subtype)
        return tmp / name
    return make


def train_wav(make_file: Callable[[Path], Path], *extra: str) -> Callable[[Path, dict[str, Path]], list[str]]:
    return lambda tmp, _: ["train", str(make_file(tmp)), "--out", str(tmp / "out"), *TINY, "--max-steps", "2", *extra]


def broken_ckpt(which: str, damage: Callable[[Path, dict[str, Path]], None],
                command: Callable[[Path, dict[str, Path]], list[str]]) -> Callable[[Path, dict[str, Path]], list[str]]:
    """Copy a trained checkpoint to tmp/ckpt, damage it, then run `command` (which uses tmp/ckpt)."""
    def make(tmp: Path, c: dict[str, Path]) -> list[str]:
        shutil.copytree(c[which], tmp / "ckpt")
        damage(tmp / "ckpt", c)
        return command(tmp, c)
    return make


def sample_ckpt(tmp: Path, _: dict[str, Path]) -> list[str]:
    return ["sample", "-c", str(tmp / "ckpt"), "--length", "50", "--wav", str(tmp / "out.wav")]


def resume_ckpt(tmp: Path, _: dict[str, Path]) -> list[str]:
    return ["train", "--resume", str(tmp / "ckpt"), "--max-steps", "40", "-q"]


def edit_config(change: Callable[[dict], None]) -> Callable[[Path, dict[str, Path]], None]:
    def damage(folder: Path, _: dict[str, Path]) -> None:
        config = json.loads((folder / "config.json").read_text())
        change(config)
        (folder / "config.json").write_text(json.dumps(config))
    return damage


def truncate(name: str) -> Callable[[Path, dict[str, Path]], None]:
    def damage(folder: Path, _: dict[str, Path]) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])
    return damage


def plant_pickle(name: str) -> Callable[[Path, dict[str, Path]], None]:
    def damage(folder: Path, _: dict[str, Path]) -> None:
        (folder / name).write_bytes(pickle.dumps(Marker(folder.parent / "pwned")))
    return damage


def trained_on_one_long_line(tmp: Path, result: Result) -> None:
    """A checkpoint in tmp/out that loads, knows the ten letters, and samples text made of them."""
    assert result.stdout.startswith(f"checkpoint: {tmp / 'out'}\n"), result.stdout
    config = json.loads((tmp / "out" / "config.json").read_text())
    assert config["progress"]["step"] == 2 and config["data"]["documents"] == 1, config
    model = seqgen.load(tmp / "out", device="cpu")
    assert set("abcdefghij") <= set(config["codec"]["chars"])
    [text] = model.sample(length=30, seed=0)
    assert len(text) == 30 and set(text) <= set(config["codec"]["chars"]), text


def scored_with_unk(tmp: Path, result: Result) -> None:
    """One score line for all 8 characters with a finite log-probability, and (on stderr) the note that the two
    unseen characters were scored as <unk>."""
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("logprob "), result.stdout
    fields = lines[0].split()
    assert math.isfinite(float(fields[1])) and float(fields[1]) < 0, lines[0]
    assert fields[fields.index("tokens") + 1] == "8", lines[0]
    assert result.stderr.strip() == "note: unseen character(s) '\u2603', '\u00a7' scored as <unk>", result.stderr


def scored_one_second(tmp: Path, result: Result) -> None:
    """1 s recorded at twice the model's rate is scored as 1 s (4 windows of 0.25 s), not as 2 s of samples."""
    windows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(w["start"], w["end"]) for w in windows] == [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)], windows
    assert all(math.isfinite(w["bits_per_sample"]) for w in windows), windows


def wrote_primer_then_sample(tmp: Path, result: Result) -> None:
    """out.wav is at the model's rate and holds the primer resampled (1 s: RATE samples, not 2 * RATE), then the
    50 samples asked for."""
    audio, rate = soundfile.read(tmp / "out.wav")
    assert rate == RATE and len(audio) == RATE + 50, (rate, len(audio))
    assert np.isfinite(audio).all() and np.corrcoef(audio[:RATE], np.sin(np.arange(RATE) / 2.5))[0, 1] > 0.9


RANDOM = np.random.default_rng(0).bytes(4096)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + RANDOM[:200]
TONE = 0.5 * np.sin(np.arange(4000) / 5)
NAN_TONE = TONE.copy()
NAN_TONE[100:200] = np.nan
NAN_TONE[300] = np.inf

CASES = [
    # --- text ----------------------------------------------------------------------------------------------
    Case("empty text", train_on("empty.txt", ""), r"empty\.txt.*empty", ("out",)),
    Case("random bytes as text", train_on("noise.txt", RANDOM), r"noise\.txt.*(UTF-8|binary)", ("out",)),
    Case("PNG as text", train_on("picture.png", PNG), r"picture\.png.*(UTF-8|binary)", ("out",)),
    Case("invalid UTF-8", train_on("latin1.txt", "caf\u00e9 au lait\n".encode("latin-1") * 50),
         r"latin1\.txt.*UTF-8", ("out",)),
    Case("folder with nothing usable", lambda tmp, _: ["train", str(write(tmp / "data" / ".hidden", "x") .parent),
                                                       "--out", str(tmp / "out"), *TINY],
         r"data.*(no usable|no files|nothing|empty)", ("out",)),
    Case("huge single line trains", train_on("line.txt", "abcdefghij" * 500_000, "-b", "64", "-t", "64"), ok=True,
         check=trained_on_one_long_line),
    Case("unknown character in --prime", sample_text("--prime", "\u2603 snow"), r"--prime.*'\\u2603'|--prime.*☃"),
    Case("unknown character in --stop", sample_text("--stop", "\u00a7"), r"--stop.*never occur"),
    Case("scoring with no text", lambda tmp, c: ["score", "-c", str(c["text"])], r"nothing to score"),
    Case("unknown characters in a scored sentence are scored as <unk>",
         lambda tmp, c: ["score", "-c", str(c["text"]), "\u2603 snow \u00a7"], ok=True, check=scored_with_unk),
    Case("--prime-midi for a text model", lambda tmp, c: ["sample", "-c", str(c["text"]), "--prime-midi",
                                                          str(write(tmp / "a.mid", midi_bytes(4)))],
         r"--prime-midi is for music models"),
    # --- options out of range ------------------------------------------------------------------------------
    Case("--temperature -1", sample_text("--temperature", "-1"), r"--temperature.*-1"),
    Case("--top-p 0", sample_text("--top-p", "0"), r"--top-p.*0"),
    Case("--length -5", sample_text("--length", "-5"), r"--length.*-5"),
    Case("--hidden 0", train_opts("--hidden", "0"), r"--hidden.*0", ("out",)),
    Case("--lr 0", train_opts("--lr", "0"), r"--lr.*0", ("out",)),
    Case("--bits 0", lambda tmp, c: ["train", str(c["tone"]), "--out", str(tmp / "out"), "--bits", "0"],
         r"--bits.*0", ("out",)),
    Case("--val-fraction 1", train_opts("--val-fraction", "1"), r"--val-fraction.*1", ("out",)),
    Case("--lr inf", train_opts("--lr", "inf"), r"lr=inf", ("out",)),
    Case("--clip nan", train_opts("--clip", "nan"), r"clip=nan", ("out",)),
    Case("--window 0", lambda tmp, c: ["score", "-c", str(c["wave"]), str(c["tone"]), "--window", "0"],
         r"--window.*0"),
    # --- MIDI ----------------------------------------------------------------------------------------------
    Case("zero-byte .mid", train_on("empty.mid", b""), r"empty\.mid", ("out",)),
    Case("truncated .mid", train_on("cut.mid", midi_bytes(50)[:60]), r"cut\.mid", ("out",)),
    Case("MIDI with absurd tempo and rests", train_on("slow.mid", midi_bytes(20, 0xFFFFFF, 400_000)),
         r"slow\.mid: lasts .* hours, too long", ("out",)),
    Case("MIDI with 10^6 events", train_on("huge.mid", midi_bytes(600_000)), r"huge\.mid: too large", ("out",)),
    # --- waveforms -----------------------------------------------------------------------------------------
    Case("WAV with a wrong header", train_on("bad.wav", b"RIFX\x00\x00\x00\x00WAVEfmt " + RANDOM[:500]),
         r"bad\.wav.*not a readable audio file", ("out",)),
    Case("zero-length WAV", train_wav(wav("zero.wav", np.zeros(0))), r"zero\.wav.*empty", ("out",)),
    Case("WAV of NaN and inf only", train_wav(wav("nan.wav", np.full(4000, np.nan))), r"nan\.wav.*NaN", ("out",)),
    Case("WAV with NaN and --gaps error", train_wav(wav("gaps.wav", NAN_TONE), "--gaps", "error"),
         r"gaps\.wav.*(NaN|gap)", ("out",)),
    Case("CSV with text in a number column",
         train_on("ecg.csv", "time,mv\n" + "".join(f"{i / 100},{np.sin(i)}\n" for i in range(300)) + "3.01,abc\n"),
         r"ecg\.csv: line \d+: 'abc'", ("out",)),
    Case("CSV whose time column jumps (a rate that changes)",
         train_on("jump.csv", "time,mv\n" + "".join(f"{i / (100 if i < 150 else 50)},{np.sin(i)}\n"
                                                    for i in range(300))),
         r"jump\.csv: irregular sampling", ("out",)),
    Case("scoring a WAV at another rate resamples it", lambda tmp, c: [
        "score", "-c", str(c["wave"]), str(wav("fast.wav", TONE, rate=RATE * 2)(tmp)), "--window", "0.25", "--json"],
         ok=True, check=scored_one_second),
    Case("primer WAV at another rate is resampled", lambda tmp, c: sample_wave(
        "--prime", str(wav("p.wav", TONE, rate=RATE * 2)(tmp)))(tmp, c), ok=True, check=wrote_primer_then_sample),
    Case("primer WAV of NaN only", lambda tmp, c: sample_wave(
        "--prime", str(wav("p.wav", np.full(500, np.nan))(tmp)))(tmp, c), r"p\.wav.*NaN", ("out.wav",)),
    Case("primer that is not a recording", lambda tmp, c: sample_wave(
        "--prime", str(write(tmp / "p.txt", "hello")))(tmp, c), r"p\.txt.*not a waveform file", ("out.wav",)),
    Case("sample --out with an unknown suffix", lambda tmp, c: ["sample", "-c", str(c["wave"]), "--length", "20",
                                                                "--out", str(tmp / "out.xyz")],
         r"out\.xyz.*cannot write", ("out.xyz",)),
    # --- checkpoints ---------------------------------------------------------------------------------------
    Case("config.json missing", broken_ckpt("wave", lambda f, _: (f / "config.json").unlink(), sample_ckpt),
         r"ckpt.*no config\.json", ("out.wav",)),
    Case("model.safetensors missing", broken_ckpt("wave", lambda f, _: (f / "model.safetensors").unlink(),
                                                  sample_ckpt), r"ckpt.*model\.safetensors", ("out.wav",)),
    Case("truncated model.safetensors", broken_ckpt("wave", truncate("model.safetensors"), sample_ckpt),
         r"model\.safetensors.*(damaged|truncated)", ("out.wav",)),
    Case("model.safetensors of another model",
         broken_ckpt("wave", lambda f, c: shutil.copy(c["text"] / "model.safetensors", f), sample_ckpt),
         r"model\.safetensors.*(do not match|damaged)", ("out.wav",)),
    Case("config.json from a newer format", broken_ckpt("wave", edit_config(lambda d: d.update(format_version=99)),
                                                         sample_ckpt), r"config\.json.*newer", ("out.wav",)),
    Case("config.json not JSON", broken_ckpt("wave", lambda f, _: write(f / "config.json", "{model: oops"),
                                             sample_ckpt), r"config\.json.*damaged", ("out.wav",)),
    Case("config.json with a string hidden size",
         broken_ckpt("wave", edit_config(lambda d: d["model"].update(hidden="abc")), sample_ckpt),
         r"config\.json: damaged .*model\.hidden is 'abc'", ("out.wav",)),
    Case("config.json with a wrong-typed codec",
         broken_ckpt("wave", edit_config(lambda d: d["codec"].update(sample_rate="fast")), sample_ckpt),
         r"config\.json.*damaged", ("out.wav",)),
    Case("pickle as model.safetensors", broken_ckpt("wave", plant_pickle("model.safetensors"), sample_ckpt),
         r"model\.safetensors.*(damaged|truncated)", ("out.wav", "pwned")),
    Case("malicious trainer.pt on --resume", broken_ckpt("text", plant_pickle("trainer.pt"), resume_ckpt),
         r"trainer\.pt.*damaged", ("pwned",), unchanged="ckpt"),
    Case("truncated trainer.pt on --resume", broken_ckpt("text", truncate("trainer.pt"), resume_ckpt),
         r"trainer\.pt.*damaged", unchanged="ckpt"),
    Case("model.safetensors and trainer.pt swapped",
         broken_ckpt("wave", lambda f, _: [(f / "model.safetensors").rename(f / "x"), (f / "trainer.pt").rename(
             f / "model.safetensors"), (f / "x").rename(f / "trainer.pt")], sample_ckpt),
         r"model\.safetensors.*(damaged|truncated)", ("out.wav",)),
    Case("zero-byte config.json", broken_ckpt("wave", lambda f, _: write(f / "config.json", ""), sample_ckpt),
         r"config\.json.*damaged", ("out.wav",)),
    Case("config.json with a string format_version",
         broken_ckpt("wave", edit_config(lambda d: d.update(format_version="1")), sample_ckpt),
         r"config\.json.*format_version '1'", ("out.wav",)),
    Case("config.json from format version 0",
         broken_ckpt("wave", edit_config(lambda d: d.update(format_version=0)), sample_ckpt),
         r"config\.json.*format_version 0", ("out.wav",)),
    Case("config.json with an unknown reading option",
         broken_ckpt("wave", edit_config(lambda d: d["data"].update(read_options={"bogus": 1})),
                     lambda tmp, c: ["score", "-c", str(tmp / "ckpt"), str(c["tone"])]),
         r"config\.json.*unknown field data\.read_options\.bogus"),
    Case("config.json with a text anomaly threshold",
         broken_ckpt("wave", edit_config(lambda d: d.update(anomaly={"windows": [{"window_s": "x"}]})),
                     lambda tmp, c: ["score", "-c", str(tmp / "ckpt"), str(c["tone"])]),
         r"config\.json.*anomaly\.windows\[\]\.window_s is 'x'"),
    Case("config.json with a number for the data inputs on --resume",
         broken_ckpt("text", edit_config(lambda d: d["data"].update(inputs=5)), resume_ckpt),
         r"config\.json.*data\.inputs is 5", unchanged="ckpt"),
    Case("config.json with a text loss on info",
         broken_ckpt("text", edit_config(lambda d: d["progress"].update(best_val_loss="low")),
                     lambda tmp, _: ["info", "-c", str(tmp / "ckpt")]),
         r"config\.json.*progress\.best_val_loss is 'low'"),
    Case("config.json with a fractional batch size on --resume",
         broken_ckpt("text", edit_config(lambda d: d["train"].update(batch_size=2.5)), resume_ckpt),
         r"batch_size=2\.5", unchanged="ckpt"),
    Case("config.json with a boolean learning rate on --resume",
         broken_ckpt("text", edit_config(lambda d: d["train"].update(lr=True)), resume_ckpt),
         r"lr=True", unchanged="ckpt"),
    Case("trainer.pt missing on --resume", broken_ckpt("text", lambda f, _: (f / "trainer.pt").unlink(), resume_ckpt),
         r"ckpt.*no trainer\.pt", unchanged="ckpt"),
    Case("--resume of a folder that is not a checkpoint", lambda tmp, _: [
        "train", "--resume", str(write(tmp / "ckpt" / "notes.txt", "hi").parent), "--max-steps", "3"],
         r"ckpt.*not a seqgen checkpoint", unchanged="ckpt"),
]


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_clean_error(case: Case, ckpts: dict[str, Path], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))
    args = case.make(tmp_path, ckpts)
    before = digest(tmp_path / case.unchanged) if case.unchanged else None
    result = CliRunner().invoke(cli, args)
    if case.ok:
        assert_clean_exit(result)
        assert case.check is not None, "an ok case must say what it checks"
        case.check(tmp_path, result)
        return
    line = assert_clean_error(result)
    assert re.search(case.error, line), line
    for name in case.absent:
        assert not (tmp_path / name).exists(), name
    if before is not None:
        assert digest(tmp_path / case.unchanged) == before
