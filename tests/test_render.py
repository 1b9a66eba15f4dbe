"""render: WAVs via FluidSynth, rustysynth (the pip-only synthesizer) and the sine fallback, soundfont lookup, clean
errors, and the piano-roll PNG."""

from __future__ import annotations

import contextlib
import errno
import importlib
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib.image
import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from seqgen import render
from seqgen.errors import SeqgenError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _fluidsynth_loads() -> bool:
    """Whether pyfluidsynth imports and finds the FluidSynth system library (it raises ImportError or OSError
    when the library is missing; it also prints where it looked when $CI is set)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            importlib.import_module("fluidsynth")
    except (ImportError, OSError):
        return False
    return True


needs_fluidsynth = pytest.mark.skipif(
    not _fluidsynth_loads(),
    reason="the FluidSynth system library cannot be loaded here (install it: apt-get install fluidsynth)")


def piece(*instruments: tuple[int, bool, list[tuple[int, float, float, int]]]) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI from (program, is_drum, [(pitch, start, end, velocity), ...]) per instrument."""
    pm = pretty_midi.PrettyMIDI()
    for program, is_drum, notes in instruments:
        inst = pretty_midi.Instrument(program=program, is_drum=is_drum)
        inst.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for p, s, e, v in notes]
        pm.instruments.append(inst)
    return pm


def melody() -> pretty_midi.PrettyMIDI:
    """Three seconds of piano over a kick drum: two instruments, C4 to C5, varied velocity."""
    piano = [(60 + step, i * 0.25, i * 0.25 + 0.2, 40 + 7 * i) for i, step in enumerate([0, 4, 7, 12] * 3)]
    kick = [(36, i * 0.5, i * 0.5 + 0.1, 110) for i in range(6)]
    return piece((0, False, piano), (0, True, kick))


def dominant_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[spectrum.argmax()])


@needs_fluidsynth
def test_fluidsynth_render_has_asked_rate_length_and_level(tmp_path: Path) -> None:
    soundfont = render.find_soundfont()
    if soundfont is None:
        pytest.skip("no General MIDI soundfont installed")
    pm, out = melody(), tmp_path / "song.wav"
    line = render.render_wav(pm, out, sample_rate=22050)
    assert line == f"FluidSynth with {soundfont}"
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    audio, _ = sf.read(out)
    assert pm.get_end_time() <= len(audio) / 22050 <= pm.get_end_time() + 1.5  # plus FluidSynth's release tail
    assert np.sqrt(np.mean(audio**2)) > 0.02
    assert 0.85 < np.abs(audio).max() <= render.PEAK + 1e-4  # peak-normalised, headroom below full scale


def test_sine_fallback_without_soundfont(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "find_soundfont", lambda: None)
    out = tmp_path / "a4.wav"
    line = render.render_wav(piece((0, False, [(69, 0.0, 1.0, 100)])), out, sample_rate=16000)
    assert line.startswith("pretty_midi sine synthesis") and "SEQGEN_SOUNDFONT" in line
    audio, rate = sf.read(out)
    assert rate == 16000 and len(audio) == 2 * 16000  # the note plus pretty_midi's one-second tail
    assert abs(dominant_hz(audio, rate) - 440.0) < 2  # A4 at the rate written in the header
    assert np.abs(audio).max() == pytest.approx(render.PEAK, abs=1e-3)


def test_sine_fallback_without_fluidsynth_library_or_midirenderer(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # makes `import fluidsynth` fail
    monkeypatch.setitem(sys.modules, "midirenderer", None)
    line = render.render_wav(melody(), tmp_path / "song.wav", soundfont=PIP_SOUNDFONT)
    assert line.startswith("pretty_midi sine synthesis") and "FluidSynth library" in line
    assert "pip install midirenderer" in line
    assert np.abs(sf.read(tmp_path / "song.wav")[0]).max() > 0.5


PIP_SOUNDFONT = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"  # ships inside pretty_midi: every install has it
PARTIALS = (2, 3, 4)


def fundamental_and_partials(audio: np.ndarray, rate: int) -> tuple[float, list[float]]:
    """The fundamental of a sustained note (the lowest spectral peak within 15 dB of the strongest: a piano's second
    harmonic can outweigh its first) and the levels in dB, against it, of its partials 2f, 3f and 4f."""
    segment = audio[int(0.1 * rate):int(0.9 * rate)]  # the held part, past the attack, before the release
    size = 1 << 17
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), size))
    hz = np.fft.rfftfreq(size, 1 / rate)
    db = 20 * np.log10(spectrum / spectrum.max() + 1e-12)
    peaks = np.flatnonzero((db[1:-1] > -15) & (db[1:-1] >= db[:-2]) & (db[1:-1] > db[2:]) & (hz[1:-1] > 30)) + 1
    f0 = float(hz[peaks[0]])
    near = [db[(hz > k * f0 * 0.97) & (hz < k * f0 * 1.03)].max() for k in (1, *PARTIALS)]
    return f0, [float(level - near[0]) for level in near[1:]]


def one_note(pitch: int, seconds: float = 1.0) -> pretty_midi.PrettyMIDI:
    return piece((0, False, [(pitch, 0.0, seconds, 100)]))  # program 0: acoustic grand piano


@pytest.fixture
def no_fluidsynth(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh pip install: pyfluidsynth is there but the FluidSynth system library is not."""
    monkeypatch.setitem(sys.modules, "fluidsynth", None)


@pytest.mark.usefixtures("no_fluidsynth")
@pytest.mark.parametrize(("pitch", "hz"), [(60, 261.63), (72, 523.25)], ids=["C4", "C5"])
def test_pip_synth_plays_a_piano_in_tune_with_harmonics(tmp_path: Path, pitch: int, hz: float) -> None:
    out = tmp_path / "note.wav"
    line = render.render_wav(one_note(pitch), out, sample_rate=22050, soundfont=PIP_SOUNDFONT)
    assert line == f"rustysynth (midirenderer) with {PIP_SOUNDFONT}"
    audio, rate = sf.read(out)
    assert rate == 22050
    f0, partials = fundamental_and_partials(audio, rate)
    assert abs(f0 / hz - 1) < 0.02, (f0, partials)  # in tune (symusic 0.5.9 plays this C4 near 830 Hz)
    assert all(level > -40 for level in partials), (f0, partials)  # a real instrument's overtones

    sine_f0, sine_partials = fundamental_and_partials(one_note(pitch).synthesize(fs=rate), rate)
    assert abs(sine_f0 / hz - 1) < 0.02 and all(level < -40 for level in sine_partials), sine_partials


@pytest.mark.usefixtures("no_fluidsynth")
def test_pip_synth_renders_a_tune_with_drums_at_its_length(tmp_path: Path) -> None:
    pm, out = melody(), tmp_path / "song.wav"
    line = render.render_wav(pm, out, sample_rate=16000, soundfont=PIP_SOUNDFONT)
    assert line == f"rustysynth (midirenderer) with {PIP_SOUNDFONT}"
    audio, rate = sf.read(out)
    assert rate == 16000
    assert pm.get_end_time() <= len(audio) / rate <= pm.get_end_time() + 1.5  # plus the release tail
    assert np.sqrt(np.mean(audio**2)) > 0.02 and np.abs(audio).max() == pytest.approx(render.PEAK, abs=1e-3)
    assert len(pm.instruments[0].control_changes) == 0  # the caller's piece is left as it was

    drums = render.render_rustysynth(piece((0, True, [(36, 0.0, 0.2, 110), (38, 0.5, 0.7, 110)])), 16000,
                                     PIP_SOUNDFONT)
    assert np.abs(drums).max() > 0.01  # the drum channel plays (the sine fallback leaves drums silent)


@pytest.mark.usefixtures("no_fluidsynth")
def test_pip_synth_keeps_times_tempo_and_velocities() -> None:
    """Notes sound at the PrettyMIDI's absolute times whatever its tempo, louder for higher velocity."""
    rate = 8000
    pm = pretty_midi.PrettyMIDI(initial_tempo=73)  # times are seconds, written with this tempo's ticks
    pm.instruments.append(pretty_midi.Instrument(program=0))
    pm.instruments[0].notes = [pretty_midi.Note(velocity=30, pitch=60, start=0.5, end=1.0),
                               pretty_midi.Note(velocity=120, pitch=60, start=1.7, end=2.2)]
    audio = render.render_rustysynth(pm, rate, PIP_SOUNDFONT)
    loud = np.abs(audio) > 0.05 * np.abs(audio).max()
    onsets = np.flatnonzero(loud[1:] & ~loud[:-1]) / rate
    assert abs(np.flatnonzero(loud)[0] / rate - 0.5) < 0.03
    assert any(abs(t - 1.7) < 0.03 for t in onsets), onsets
    quiet, loud_note = (np.sqrt(np.mean(audio[int(s * rate):int((s + 0.4) * rate)] ** 2)) for s in (0.5, 1.7))
    assert loud_note > 2 * quiet


@pytest.mark.usefixtures("no_fluidsynth")
def test_pip_synth_damaged_soundfont_is_one_clean_error(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.sf2"
    damaged.write_bytes(b"RIFF\x0c\x00\x00\x00sfbkLIST" + bytes(8))
    with pytest.raises(SeqgenError) as caught:
        render.render_wav(melody(), tmp_path / "out.wav", soundfont=damaged)
    assert str(caught.value) == f"{damaged}: rustysynth cannot load this soundfont (damaged, or not a .sf2 file)"
    assert not (tmp_path / "out.wav").exists()


def test_soundfont_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.sf2"
    monkeypatch.setenv("SEQGEN_SOUNDFONT", str(missing))
    with pytest.raises(SeqgenError, match=f"SEQGEN_SOUNDFONT={missing}: no such soundfont file"):
        render.find_soundfont()
    with pytest.raises(SeqgenError, match="nope.sf2"):
        render.render_wav(melody(), tmp_path / "song.wav")
    mine = tmp_path / "mine.sf2"
    mine.write_bytes(b"RIFF")
    monkeypatch.setenv("SEQGEN_SOUNDFONT", str(mine))
    assert render.find_soundfont() == mine  # wins over the installed soundfonts
    assert not (tmp_path / "song.wav").exists()


@needs_fluidsynth
def test_damaged_soundfont_is_one_clean_error_and_fluidsynth_prints_nothing(tmp_path: Path) -> None:
    """In a real process: FluidSynth's C-level complaints are swallowed, and the output streams come back after."""
    damaged = tmp_path / "damaged.sf2"
    damaged.write_bytes(b"RIFF\x0c\x00\x00\x00sfbkLIST" + bytes(8))
    script = textwrap.dedent(f"""
        import os
        from pathlib import Path
        from seqgen.errors import SeqgenError
        from seqgen.render import render_wav
        import pretty_midi
        pm = pretty_midi.PrettyMIDI()
        pm.instruments.append(pretty_midi.Instrument(0))
        pm.instruments[0].notes.append(pretty_midi.Note(velocity=100, pitch=60, start=0, end=0.5))
        try:
            render_wav(pm, Path({str(tmp_path / "out.wav")!r}), soundfont=Path({str(damaged)!r}))
        except SeqgenError as e:
            print(e)
        os.write(2, b"MARK\\n")
        pm.fluidsynth(22050, synthesizer={str(damaged)!r})  # control: unguarded, FluidSynth does print
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{damaged}: FluidSynth cannot load this soundfont (damaged, or not a .sf2 file)\n"
    assert done.stderr.startswith("MARK\n") and "fluidsynth: error" in done.stderr
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("pm", [pretty_midi.PrettyMIDI(), piece((0, False, []))], ids=["no-instruments", "no-notes"])
def test_empty_piece_is_an_error(tmp_path: Path, pm: pretty_midi.PrettyMIDI) -> None:
    with pytest.raises(SeqgenError, match="no notes"):
        render.render_wav(pm, tmp_path / "empty.wav")
    with pytest.raises(SeqgenError, match="no notes"):
        render.plot_piano_roll(pm, tmp_path / "empty.png")
    assert list(tmp_path.iterdir()) == []


def test_sample_rate_out_of_range_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SeqgenError, match="sample rate 4000 Hz"):
        render.render_wav(melody(), tmp_path / "song.wav", sample_rate=4000)


@pytest.mark.parametrize("name", ["song.wav", "roll.png"])
@pytest.mark.parametrize("blocker", ["parent-is-a-file", "read-only-folder"])
def test_unwritable_target_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 blocker: str, name: str) -> None:
    monkeypatch.setattr(render, "find_soundfont", lambda: None)  # the fast synthesis; the write is under test
    if blocker == "parent-is-a-file":
        (tmp_path / "notes.txt").write_text("x")
        target, reason = tmp_path / "notes.txt" / name, "a folder in its path is a file"
    else:
        target, reason = tmp_path / "locked" / name, "Permission denied"
        target.parent.mkdir()
        target.parent.chmod(0o555)
        if os.access(target.parent, os.W_OK):
            pytest.skip("running as a user who can write to read-only folders (root)")
    write = render.render_wav if name.endswith(".wav") else render.plot_piano_roll
    with pytest.raises(SeqgenError) as caught:
        write(melody(), target)
    assert str(caught.value) == f"{target}: cannot write ({reason})"
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["notes.txt"] if blocker == "parent-is-a-file"
                                                                 else ["locked"])


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(tmp: str, *args: object, **kwargs: object) -> None:
        Path(tmp).write_bytes(b"RIFF half a header")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(render, "find_soundfont", lambda: None)
    monkeypatch.setattr(sf, "write", disk_full)
    out = tmp_path / "song.wav"
    out.write_bytes(b"previous render")
    with pytest.raises(SeqgenError, match="song.wav: cannot write \\(No space left on device\\)"):
        render.render_wav(melody(), out)
    assert [p.name for p in tmp_path.iterdir()] == ["song.wav"] and out.read_bytes() == b"previous render"


@pytest.mark.parametrize("primer", [None, 1.0])
def test_piano_roll_writes_a_png(tmp_path: Path, primer: float | None) -> None:
    out = tmp_path / "roll.png"
    render.plot_piano_roll(melody(), out, title="a test", primer_seconds=primer)
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(out)
    assert image.shape[:2] == (500, 1200) and image.std() > 0.05  # 12 x 5 inches at 100 dpi, not blank
    assert [p.name for p in tmp_path.iterdir()] == ["roll.png"]


def test_piano_roll_content() -> None:
    """Pitch axis trimmed to the notes with names on it, a colour per instrument, opacity by velocity, primer."""
    ax = render._roll_figure(melody(), "a test", primer_seconds=1.0).axes[0]
    assert ax.get_ylim() == (36 - 2 - 0.5, 72 + 2 + 0.5)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C2", "C3", "C4", "C5"]
    piano, drums = (c.get_facecolors() for c in ax.collections if len(c.get_facecolors()) > 1)
    assert not np.allclose(piano[0, :3], drums[0, :3])
    assert piano[0, 3] < piano[-1, 3]  # louder notes are more opaque
    assert [t.get_text() for t in ax.texts] == ["primer"] and ax.get_title() == "a test"
    assert ax.get_legend() is not None and len(ax.get_legend().get_texts()) == 2

    narrow = render._roll_figure(piece((0, False, [(60, 0, 1, 80), (64, 1, 2, 80)])), "", None).axes[0]
    assert [t.get_text() for t in narrow.get_yticklabels()][:3] == ["A#3", "B3", "C4"]  # few pitches: all named
    assert len(narrow.texts) == 0
