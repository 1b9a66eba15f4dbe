"""Music end to end: DATA resolution, the per-epoch piece stream, the parse cache, and the CLI from
`seqgen train` on a folder of MIDI files to `seqgen sample --midi/--wav/--plot` and `seqgen score`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import music21
import numpy as np
import pretty_midi
import pytest
from click.testing import CliRunner, Result
from helpers import assert_clean_error, assert_clean_exit
from seqgen.cli.main import cli

import seqgen
from seqgen.codecs import NoteEventCodec
from seqgen.domains.music import pieces
from seqgen.domains.music.data import PieceStream, music_codec
from seqgen.domains.music.metrical import MetricalCodec
from seqgen.errors import SeqgenError
from seqgen.inputs import prepare, resolve

SCALE = [60, 62, 64, 65, 67, 65, 64, 62]  # a tune of eighth notes, moved to a new key in every piece


def write_tune(path: Path, key: int, repeats: int = 8, step: float = 0.2) -> None:
    pm = pretty_midi.PrettyMIDI(initial_tempo=150)
    inst = pretty_midi.Instrument(program=0)
    t = 0.0
    for _ in range(repeats):
        for p in SCALE:
            inst.notes.append(pretty_midi.Note(velocity=80, pitch=p + key, start=t, end=t + step))
            t += step
    pm.instruments.append(inst)
    pm.write(str(path))


@pytest.fixture(scope="module")
def tunes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tunes")
    for key in range(10):
        write_tune(folder / f"tune{key}.mid", key - 4)
    (folder / "README.txt").write_text("ten tunes, one scale pattern in ten keys\n")
    return folder


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQGEN_CACHE", str(tmp_path / "cache"))


def run(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_error_after_notes(result: Result, needle: str) -> None:
    """A clean failure whose one `seqgen: error:` line comes last, after notes about the files skipped."""
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("seqgen: error: ") and needle in lines[-1], result.stderr
    assert not any(line.startswith("seqgen: error: ") for line in lines[:-1]), result.stderr


def test_resolve_finds_the_domain_and_ignores_non_music_files_beside_music(tunes, tmp_path):
    inputs = resolve([tunes])
    assert inputs.domain == "music" and len(inputs.files) == 10 and [p.name for p in inputs.ignored] == ["README.txt"]
    assert len(resolve([tunes], max_files=3).files) == 3
    assert resolve([tunes / "README.txt"]).domain == "text"
    assert resolve(["chorales"]).domain == "music" and resolve(["folk-abc"]).domain == "text"
    with pytest.raises(SeqgenError, match="mixes music and text"):
        resolve(["chorales", tunes / "README.txt"])
    (tunes.parent / "rec.npy").write_bytes(b"")
    assert resolve([tunes.parent / "rec.npy"]).domain == "waveform"
    with pytest.raises(SeqgenError, match="mixes music and waveforms"):
        resolve([tunes / "tune0.mid", tunes.parent / "rec.npy"])


def test_music_data_keeps_pieces_whole_and_validates_on_held_out_pieces(tunes):
    data = prepare([tunes], 0.2, transpose=0)
    codec = data.codec
    assert isinstance(codec, MetricalCodec) and data.summary["documents"] == 10  # eighths on the beat: metrical
    assert data.summary["val_pieces"] == 2 and data.notes[0].startswith("ignored 1 file(s) that are not music")
    assert data.notes[1] == "music codec: remi (100% of sampled MIDI onsets on the 16th-note grid; --codec chooses)"
    val = data.val
    assert val[0] == codec.start_ids[0] and val[-1] == codec.end_ids[0]
    assert (val == codec.start_ids[0]).sum() == 2 and (val == codec.end_ids[0]).sum() == 2


def test_the_codec_follows_the_data_unless_chosen(tunes, tmp_path):
    """auto: scores and MIDI on a beat grid get REMI, MIDI played freely gets performance events, and so does
    music given a performance setting; a choice conflicting with the settings is one clear error."""
    rng = np.random.default_rng(0)
    played = tmp_path / "played"
    played.mkdir()
    for i in range(3):  # onsets wherever a player put them
        pm = pretty_midi.PrettyMIDI(initial_tempo=120)
        inst = pretty_midi.Instrument(program=0)
        starts = np.cumsum(rng.uniform(0.05, 0.4, 40))
        inst.notes = [pretty_midi.Note(80, int(p), s, s + 0.3) for p, s in zip(rng.integers(55, 80, 40), starts,
                                                                              strict=True)]
        pm.instruments.append(inst)
        pm.write(str(played / f"take{i}.mid"))
    files = sorted(tunes.glob("*.mid"))
    abc = Path(music21.__file__).parent / "corpus" / "ryansMammoth" / "AcaciaReel.abc"
    codec, why = music_codec([abc], {"codec": "auto"})
    assert isinstance(codec, MetricalCodec) and why == "remi (scores; --codec chooses)"
    codec, why = music_codec(sorted(played.glob("*.mid")), {"codec": "auto"})
    assert isinstance(codec, NoteEventCodec) and why.startswith("performance (") and "on the 16th-note grid" in why
    share = int(why.split("(")[1].split("%")[0])
    assert share < 60, why  # chance is about 25 %
    codec, why = music_codec(files, {"codec": "auto", "step_ms": 20.0})
    assert isinstance(codec, NoteEventCodec) and codec.step_ms == 20.0 and why == "performance events (--step-ms given)"
    codec, why = music_codec(files, {"codec": "performance", "velocity_bins": None})
    assert isinstance(codec, NoteEventCodec) and why == "performance (--codec performance)"
    with pytest.raises(SeqgenError, match="--step-ms, --velocity-bins: settings of the performance codec"):
        music_codec(files, {"codec": "remi", "step_ms": 20.0, "velocity_bins": 8})


def test_piece_stream_reorders_and_transposes_each_epoch_reproducibly():
    codec = NoteEventCodec()
    docs = []
    for key in range(6):
        pm = pretty_midi.PrettyMIDI()
        inst = pretty_midi.Instrument(0)
        inst.notes = [pretty_midi.Note(80, p + key, i * 0.1, i * 0.1 + 0.1) for i, p in enumerate(SCALE)]
        pm.instruments.append(inst)
        docs.append(np.array([0, *codec.encode(pm), 1], dtype=np.uint16))
    plain = PieceStream(docs, codec, transpose=0, seed=3)
    e0, e1 = plain(0), plain(1)
    assert len(e0) == len(e1) == sum(map(len, docs)) and not np.array_equal(e0, e1)
    assert sorted(map(tuple, np.split(e0, np.where(e0 == 0)[0][1:]))) == sorted(map(tuple, docs))
    moved = PieceStream(docs, codec, transpose=5, seed=3)
    a, b = moved(2), moved(2)
    assert np.array_equal(a, b)  # seeded by (seed, epoch): a resumed run sees the same stream
    for piece in np.split(a, np.where(a == 0)[0][1:]):
        lo, hi = codec.pitch_span(piece)
        shifts = {lo - (60 + key) for key in range(6) if hi - lo == 7} & set(range(-5, 6))
        assert shifts, "each piece is one of the originals moved by at most 5 semitones"
    spans = [codec.pitch_span(p) for p in np.split(a, np.where(a == 0)[0][1:])]
    assert len({s for s in spans}) > 1 and any(s != codec.pitch_span(d) for s, d in zip(spans, docs, strict=True))


def test_parsed_pieces_are_cached_per_file_and_codec_settings(tunes, monkeypatch):
    files = sorted(tunes.glob("*.mid"))[:3]
    first = pieces.encode_files(files, NoteEventCodec())
    assert len(first.tokens) == 3 and not first.skipped

    def refuse(*args: object) -> None:
        raise AssertionError("parsed again instead of reading the cache")

    monkeypatch.setattr(pieces, "encode_file", refuse)
    again = pieces.encode_files(files, NoteEventCodec())
    assert again.names == first.names and all(np.array_equal(a, b) for a, b in zip(again.tokens, first.tokens,
                                                                                  strict=True))
    with pytest.raises(AssertionError, match="parsed again"):
        pieces.encode_files(files, NoteEventCodec(step_ms=20))  # other settings, other tokens: not cached


@pytest.mark.slow
def test_parallel_parsing_gives_the_same_pieces_as_serial(monkeypatch):
    root = Path(music21.__file__).parent / "corpus" / "ryansMammoth"
    files = sorted(root.glob("*.abc"))[:6]
    serial = pieces.encode_files(files, NoteEventCodec(), workers=1)
    monkeypatch.setenv("SEQGEN_CACHE", str(Path(pieces.cache_root()) / "other"))
    monkeypatch.setattr(pieces, "PARALLEL_MIN_BYTES", 0)
    done: list[tuple[int, int]] = []
    parallel = pieces.encode_files(files, NoteEventCodec(), workers=2, progress=lambda d, t: done.append((d, t)))
    assert parallel.names == serial.names and len(serial.names) >= 6
    assert all(np.array_equal(a, b) for a, b in zip(parallel.tokens, serial.tokens, strict=True))
    assert done[-1] == (6, 6)


def test_train_sample_and_score_music_end_to_end(tunes, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    for f in tunes.iterdir():
        (data / f.name).write_bytes(f.read_bytes())
    (data / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (data / "bad.abc").write_text("X:1\nT:Broken\nK:C\n", encoding="utf-8")
    r = run("train", data, "--cell", "gru", "--layers", 1, "--hidden", 96, "--batch-size", 8, "--seq-len", 48,
            "--lr", 0.01, "--max-steps", 480, "--eval-every", 160, "--val-fraction", 0.2, "--transpose", 6, "-q")
    assert_clean_exit(r)
    assert "skipped" in r.stderr and "broken.mid" in r.stderr and "bad.abc" in r.stderr
    val = float(r.stdout.split("validation loss: ")[1].split()[0])
    # the folder's MIDI sits on the beat grid, so it trains REMI tokens (bars, positions, pitches, durations);
    # uniform over its 369 tokens is 5.91 nats; the held-out pieces are in keys never seen untransposed. (REMI
    # learns the rhythm first: at 240 steps the pitches still cost 2.5 nats each, at 480 under 0.2.)
    assert val < 0.5 and "music codec: remi" in r.stderr, (r.stdout, r.stderr)
    ckpt = tmp_path / "checkpoints" / "data-gru"

    r = run("sample", "-c", ckpt, "--midi", "out.mid", "--num", 3, "--seed", 1, "-T", 0.5, "--length", 400)
    assert_clean_exit(r)
    for i in (1, 2, 3):
        path = tmp_path / f"out-{i}.mid"
        notes = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes
        assert len(notes) >= 50 and all(50 <= n.pitch <= 78 for n in notes)  # 56-72, transposed by up to 6
        assert all(n.end - n.start <= 5.0 + 1e-9 for n in notes)  # --max-note-seconds 5 by default
        assert len(music21.converter.parse(path).flatten().notes) >= 50
    assert "sample 3: " in r.stdout and "out-3.mid" in r.stdout
    low, high = seqgen.load(ckpt, device="cpu").config["data"]["pitch_range"]  # training pieces +- 6
    assert 50 <= low <= 52 and 76 <= high <= 78
    r = run("sample", "-c", ckpt, "--midi", "wild.mid", "--seed", 1, "-T", 5, "--length", 400)
    assert_clean_exit(r)
    wild = pretty_midi.PrettyMIDI("wild.mid").instruments[0].notes
    assert len({n.pitch for n in wild}) >= 5 and all(low <= n.pitch <= high for n in wild)  # never untrained

    r = run("sample", "-c", ckpt, "--midi", "short.mid", "--seconds", 3, "--seed", 2, "--wav", "short.wav",
            "--plot", "short.png", "--json")
    assert_clean_exit(r)
    record = json.loads(r.stdout)
    assert record["files"] == ["short.mid", "short.wav", "short.png"]
    short = pretty_midi.PrettyMIDI("short.mid")
    assert short.get_end_time() <= 3.0 + 1e-6 and all(n.end - n.start <= 3.0 for n in short.instruments[0].notes)
    assert (tmp_path / "short.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    primer = tmp_path / "primer.mid"
    write_tune(primer, 0, repeats=1)
    r = run("sample", "-c", ckpt, "--prime-midi", primer, "--midi", "cont.mid", "--length", 60, "--seed", 3)
    assert_clean_exit(r)
    cont = pretty_midi.PrettyMIDI("cont.mid").instruments[0].notes
    assert [n.pitch for n in cont[:8]] == SCALE and len(cont) > 8

    shuffled = tmp_path / "shuffled.mid"
    pm = pretty_midi.PrettyMIDI(str(tunes / "tune4.mid"))
    rng = np.random.default_rng(0)
    pitches = rng.permutation([n.pitch for n in pm.instruments[0].notes])
    for n, p in zip(pm.instruments[0].notes, pitches, strict=True):
        n.pitch = int(p)
    pm.write(str(shuffled))
    r = run("score", "-c", ckpt, tunes / "tune4.mid", shuffled, "--json")
    assert_clean_exit(r)
    real, mixed = (json.loads(line) for line in r.stdout.splitlines())
    # the same 64 notes; the real tune's repeated passages fold into repeat signs, so it is fewer tokens
    assert real["notes"] == mixed["notes"] == 64 and real["events"] < mixed["events"]
    assert real["seconds"] == pytest.approx(12.8, abs=0.02) and real["bits_per_note"] < mixed["bits_per_note"]
    assert real["logprob"] > mixed["logprob"] + 50
    assert real["nll_per_second"] == pytest.approx(-real["logprob"] / real["seconds"])

    assert_clean_error(run("sample", "-c", ckpt), "is a music model: give --midi")
    assert_clean_error(run("sample", "-c", ckpt, "--midi", "x.mid", "--prime", "C D E"), "--prime-midi")
    assert_clean_error(run("score", "-c", ckpt, tunes / "README.txt"), "not a music file")
    assert_clean_error(run("score", "-c", ckpt, data / "broken.mid"), "broken.mid")


def test_music_resume_matches_an_unbroken_run_with_transposition(tunes, tmp_path):
    opts = {"cell": "gru", "layers": 1, "hidden": 32, "batch_size": 4, "seq_len": 32, "eval_every": 10,
            "transpose": 3, "device": "cpu"}
    whole = seqgen.train(tunes, tmp_path / "whole", max_steps=24, **opts)
    assert whole.steps == 24
    seqgen.train(tunes, tmp_path / "part", max_steps=10, **opts)
    resumed = seqgen.train(resume=tmp_path / "part", max_steps=24, device="cpu")
    a = seqgen.load(tmp_path / "whole", device="cpu").net.state_dict()
    b = seqgen.load(tmp_path / "part", device="cpu").net.state_dict()
    assert resumed.final_val_loss == pytest.approx(whole.final_val_loss, abs=1e-5)
    assert all(np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-6) for k in a)


def test_music_input_errors_are_clean(tmp_path, monkeypatch, trained):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert_error_after_notes(run("train", "pictures", "--max-steps", 1), "no music files (.mid .midi")
    assert "cover.png: not UTF-8 text" in run("train", "pictures", "--max-steps", 1).stderr
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "a.mid").write_bytes(bytes(range(200)))
    (tmp_path / "corrupt" / "b.abc").write_text("X:1\nT:Nothing here\nK:G\n", encoding="utf-8")
    r = run("train", "corrupt", "--max-steps", 1)
    assert_clean_error(r, "no usable music in 2 file(s)")
    assert not (tmp_path / "checkpoints").exists()
    assert_clean_error(run("train", "corrupt", "--sentences"), "--sentences is for text")
    r = run("sample", "-c", trained, "--midi", "x.mid", "--length", 40, "--seed", 0, "--prime", "ROMEO")
    assert_error_after_notes(r, "no sample could be written as music")
    assert "sample 1" in r.stderr and "ABC" in r.stderr and not (tmp_path / "x.mid").exists()
    assert_clean_error(run("train", tmp_path / "corrupt", "--transpose", 30), "--transpose")


def test_a_text_model_of_abc_writes_midi_for_a_sample_that_parses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tune = "X:1\nT:Scale\nM:4/4\nL:1/8\nK:C\nCDEF GABc|cBAG FEDC|\n\n"
    (tmp_path / "tune.abc.txt").write_text(tune * 40, encoding="utf-8")
    r = run("train", "tune.abc.txt", "--cell", "gru", "--layers", 1, "--hidden", 64, "--batch-size", 8,
            "--seq-len", 48, "--lr", 0.01, "--max-steps", 150, "--eval-every", 150, "-q")
    assert_clean_exit(r)
    r = run("sample", "--prime", "X:1\nT:", "--stop", "\n\n", "-T", 0, "--length", 200, "--midi", "tune.mid")
    assert_clean_exit(r)
    assert r.stdout.startswith("X:1\nT:Scale\n")
    notes = pretty_midi.PrettyMIDI("tune.mid").instruments[0].notes
    assert [n.pitch for n in notes] == [60, 62, 64, 65, 67, 69, 71, 72, 72, 71, 69, 67, 65, 64, 62, 60]


def test_datasets_list_names_the_built_in_corpora():
    r = run("datasets", "list", "--json")
    assert_clean_exit(r)
    rows = {d["name"]: d for d in map(json.loads, r.stdout.splitlines())}
    assert rows["folk"]["pieces"] == 12762 and rows["folk"]["domain"] == "music"
    assert rows["chorales"]["pieces"] == 413 and "licence" in rows["chorales"]
    assert rows["chorales"]["train_defaults"] == {"transpose": 3, "dropout": 0.2}
    assert rows["folk-abc"]["domain"] == "text"
    assert "chorales" in run("datasets", "list").stdout


@pytest.mark.slow
def test_parallel_parsing_from_a_script_without_a_main_guard(tmp_path):
    """Worker processes must not re-run the user's script (which would start workers of its own)."""
    script = tmp_path / "script.py"
    script.write_text(
        "from pathlib import Path\nimport music21\nfrom seqgen.domains.music import pieces\n"
        "from seqgen.codecs import NoteEventCodec\npieces.PARALLEL_MIN_BYTES = 0\n"
        "files = sorted((Path(music21.__file__).parent / 'corpus' / 'ryansMammoth').glob('*.abc'))[:4]\n"
        "print('pieces', len(pieces.encode_files(files, NoteEventCodec(), workers=2).names))\n")
    env = {**os.environ, "SEQGEN_CACHE": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.count("pieces 4") == 1, out.stderr
    assert len(list((tmp_path / "cache" / "music").glob("*.npz"))) == 4


def test_importing_seqgen_prints_nothing_even_under_ci():
    env = {**os.environ, "CI": "true"}
    out = subprocess.run([sys.executable, "-c", "import seqgen.trained, seqgen.render"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out


def test_waveform_model_learns_a_tone_and_writes_audio(tmp_path, monkeypatch):
    import soundfile

    monkeypatch.chdir(tmp_path)
    t = np.arange(80000) / 8000  # 10 s: the last 1 s validates and calibrates 8 windows of 0.125 s
    soundfile.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 250 * t), 8000)
    r = run("train", "tone.wav", "--layers", 1, "--hidden", 64, "--batch-size", 16, "--seq-len", 64,
            "--lr", 0.01, "--max-steps", 150, "--eval-every", 150, "-q")
    assert_clean_exit(r)
    val = float(r.stdout.split("validation loss: ")[1].split()[0])
    assert val < 1.5, r.stdout  # uniform over 256 levels is 5.55 nats; a 250 Hz tone at 8 kHz is nearly periodic
    r = run("sample", "--wav", "out.wav", "--out", "out.csv", "--seconds", 0.25, "--seed", 1, "-T", 0.5)
    assert_clean_exit(r)
    audio, rate = soundfile.read(tmp_path / "out.wav")
    assert rate == 8000 and len(audio) == 2000 and np.sqrt(np.mean(audio**2)) > 0.1
    table = np.loadtxt(tmp_path / "out.csv", delimiter=",", skiprows=1)
    assert table.shape == (2000, 2) and table[1, 0] == pytest.approx(1 / 8000)
    assert_clean_error(run("sample", "--midi", "x.mid"), "--midi is for music models")
    soundfile.write(tmp_path / "primer.wav", 0.5 * np.sin(2 * np.pi * 250 * t[:800]), 8000)
    r = run("sample", "--prime", "primer.wav", "--plot", "primed.png", "--wav", "primed.wav", "--seconds", 0.1,
            "--seed", 2)
    assert_clean_exit(r)
    assert len(soundfile.read(tmp_path / "primed.wav")[0]) == 800 + 800  # the primer, then 0.1 s more
    assert (tmp_path / "primed.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    model = seqgen.load(tmp_path / "checkpoints" / "tone-gru", device="cpu")
    rows = model.config["anomaly"]["windows"]
    assert all(row["threshold_bits"] > row["val_mean_bits"] > 0 for row in rows)
    assert model.anomaly_threshold(0.125) == next(r["threshold_bits"] for r in rows if r["window_s"] == 0.125)
    assert model.anomaly_threshold(0.01) is None  # shorter than any calibrated window
    t2 = np.arange(8000) / 8000
    burst = 0.5 * np.sin(2 * np.pi * 250 * t2)
    burst[4000:5000] = np.random.default_rng(0).uniform(-0.5, 0.5, 1000)  # 0.5-0.625 s: a noise burst
    soundfile.write(tmp_path / "burst.wav", burst, 8000)
    r = run("score", "burst.wav", "--window", 0.125, "--json", "--plot", "burst.png")
    assert_clean_exit(r)
    windows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(windows) == 8 and windows[4]["start"] == 0.5 and windows[4]["end"] == 0.625
    worst = max(windows, key=lambda w: w["bits_per_sample"])
    assert worst is windows[4] and worst["anomaly"] is True
    assert sum(w["anomaly"] for w in windows) <= 2
    assert (tmp_path / "burst.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
