"""Asking a new piece for its metre, key and tempo: key names and estimates, the metrical codec's key tokens, the
primer and bans an `Opening` makes, the tempo a written piece gets, the bar-fill measure, and `seqgen sample
--meter --key --tempo` end to end on a small model of jigs and reels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from click.testing import CliRunner
from helpers import assert_clean_error, assert_clean_exit
from seqgen.cli.main import cli

import seqgen
from seqgen.codecs import NoteEventCodec
from seqgen.domains.music.files import abc_to_midi
from seqgen.domains.music.keys import estimate_key, interval_to, key_name, parse_key
from seqgen.domains.music.metrical import MetricalCodec
from seqgen.domains.music.musicality import bar_fill, piece_of
from seqgen.domains.music.opening import Opening, at_tempo, opening_bans, opening_ids
from seqgen.errors import SeqgenError

JIG = "M:6/8\nL:1/8\nK:D\n|:A|dfa afd|gfe dcB|AFA dFA|GEC D2:|"  # D major, a pickup, a repeat
REEL_AM = "M:4/4\nL:1/8\nK:Am\nEAAB c2Bc|dcBA GABG|EAAB c2BA|GEDE A4|]"  # A minor


@pytest.fixture(scope="module")
def codec() -> MetricalCodec:
    return MetricalCodec()


@pytest.mark.parametrize(("text", "name"), [("D", "D"), ("d", "D"), ("Dm", "Dm"), ("D minor", "Dm"),
                                            ("D major", "D"), ("F#", "F#"), ("Bb min", "Bbm"), ("bb", "Bb"),
                                            ("Eb", "Eb"), ("g#m", "G#m")])
def test_keys_are_read_as_musicians_write_them(text: str, name: str) -> None:
    assert key_name(parse_key(text)) == name


@pytest.mark.parametrize("text", ["H", "D dorian", "", "7"])
def test_a_key_that_is_not_one_is_a_clear_error(text: str) -> None:
    with pytest.raises(SeqgenError, match="not a key"):
        parse_key(text)


def test_key_estimates_name_scales_and_tunes() -> None:
    assert estimate_key([62, 64, 66, 67, 69, 71, 73, 74]) == parse_key("D")
    harmonic_a_minor = [57, 59, 60, 62, 64, 65, 68, 69, 64, 57]
    assert estimate_key(harmonic_a_minor) == parse_key("Am")
    assert estimate_key([60, 72, 48]) is None and estimate_key([]) is None  # one pitch class: no key
    notes = [n for inst in abc_to_midi(f"X:1\nT:t\n{REEL_AM}\n").instruments for n in inst.notes]
    assert estimate_key([n.pitch for n in notes], [n.end - n.start for n in notes]) == parse_key("Am")
    assert interval_to(parse_key("A"), parse_key("D")) == 5 and interval_to(parse_key("D"), parse_key("A")) == -5
    assert interval_to(parse_key("C"), parse_key("F#")) == 6


def test_pieces_open_with_their_key_which_moves_with_transposition(codec: MetricalCodec) -> None:
    ids = codec.encode(abc_to_midi(f"X:1\nT:t\n{JIG}\n"))
    assert codec.token_name(ids[0]) == "Key_D" and codec.key_of(ids) == parse_key("D")
    assert [codec.token_name(i) for i in ids[1:3]] == ["Bar_None", "TimeSig_6/8"]
    up = codec.transpose(np.array(ids), 3)
    assert codec.token_name(up[0]) == "Key_F" and codec.pitch_span(up) == tuple(p + 3 for p in codec.pitch_span(ids))
    minor = codec.encode(abc_to_midi(f"X:1\nT:t\n{REEL_AM}\n"))
    assert codec.token_name(codec.transpose(np.array(minor), -2)[0]) == "Key_Gm"  # the mode stays
    pm = codec.decode(codec.start_ids + ids + codec.end_ids)
    assert [k.key_number for k in pm.key_signature_changes] == [parse_key("D")]


def test_checkpoints_from_before_key_tokens_keep_their_vocabulary(codec: MetricalCodec) -> None:
    stored = {k: v for k, v in codec.to_dict().items() if k != "keys"}
    old = MetricalCodec.from_dict(stored)
    assert not old.keys and old.vocab_size == codec.vocab_size - 24 and old.key_id(2) is None
    ids = old.encode(abc_to_midi(f"X:1\nT:t\n{JIG}\n"))
    assert old.token_name(ids[0]) == "Bar_None" and max(ids) < old.vocab_size
    assert MetricalCodec.from_dict(codec.to_dict()).vocab_size == codec.vocab_size


def test_an_opening_primes_the_key_and_first_bar_and_bans_other_metres(codec: MetricalCodec) -> None:
    assert [codec.token_name(i) for i in opening_ids(codec, Opening(meter="6/8", key="G"))] == \
        ["Key_G", "Bar_None", "TimeSig_6/8"]
    assert [codec.token_name(i) for i in opening_ids(codec, Opening(key="Bm"))] == ["Key_Bm"]
    assert opening_ids(codec, Opening()) == []
    banned = {codec.token_name(i) for i in opening_bans(codec, Opening(meter="6/8"))}
    assert "TimeSig_4/4" in banned and "TimeSig_6/8" not in banned and all(b.startswith("TimeSig_") for b in banned)
    assert len(banned) == len(codec.meters) - 1 and opening_bans(codec, Opening(key="D")) == []


def test_a_primer_piece_is_moved_to_the_key_asked(codec: MetricalCodec, tmp_path: Path) -> None:
    path = tmp_path / "jig.abc"
    path.write_text(f"X:1\nT:t\n{JIG}\n")
    plain = opening_ids(codec, Opening(piece=path))
    moved = opening_ids(codec, Opening(piece=path, key="G", meter="6/8"))
    assert codec.token_name(moved[0]) == "Key_G" and len(moved) == len(plain)
    assert codec.pitch_span(np.array(moved)) == tuple(p + 5 for p in codec.pitch_span(np.array(plain)))
    with pytest.raises(SeqgenError, match=r"jig.abc: is in D, a major key; --key Em asks for a minor one"):
        opening_ids(codec, Opening(piece=path, key="Em"))
    with pytest.raises(SeqgenError, match=r"jig.abc: is in 6/8; --meter 4/4 asks for another metre"):
        opening_ids(codec, Opening(piece=path, meter="4/4"))


def test_what_cannot_be_asked_is_refused_with_the_reason(codec: MetricalCodec) -> None:
    with pytest.raises(SeqgenError, match=r"--meter 7/8: not a time signature the model writes; it writes 3/8, 6/8"):
        opening_ids(codec, Opening(meter="7/8"))
    with pytest.raises(SeqgenError, match="--meter and --key: this model reads performance events"):
        opening_ids(NoteEventCodec(), Opening(meter="6/8", key="D"))
    old = MetricalCodec.from_dict({k: v for k, v in codec.to_dict().items() if k != "keys"})
    with pytest.raises(SeqgenError, match="trained before seqgen wrote key tokens"):
        opening_ids(old, Opening(key="D"))


def test_a_piece_is_written_at_the_tempo_asked(codec: MetricalCodec) -> None:
    pm = codec.decode(codec.encode(abc_to_midi(f"X:1\nT:t\n{JIG}\n")))
    fast = at_tempo(pm, 150.0)
    starts = [n.start for n in pm.instruments[0].notes]
    assert [n.start for n in fast.instruments[0].notes] == pytest.approx([t * 0.8 for t in starts])
    buffer = io.BytesIO()
    fast.write(buffer)
    back = pretty_midi.PrettyMIDI(io.BytesIO(buffer.getvalue()))
    assert back.get_tempo_changes()[1][0] == pytest.approx(150.0)
    assert [(t.numerator, t.denominator) for t in back.time_signature_changes] == [(6, 8)]
    assert [k.key_number for k in back.key_signature_changes] == [parse_key("D")]
    with pytest.raises(SeqgenError, match="--tempo 0"):
        at_tempo(pm, 0.0)


def test_bar_fill_counts_inner_bars_that_sound_through_on_their_metre() -> None:
    assert bar_fill(piece_of(abc_to_midi(f"X:1\nT:t\n{JIG}\n"))) == 1.0
    rests = "M:4/4\nL:1/8\nK:D\n|:A|dfa afd gf|gfe dcB z2|AFA dFA d2|GEC D2 z4|"  # bar 2 has a quarter rest
    assert bar_fill(piece_of(abc_to_midi(f"X:1\nT:t\n{rests}\n"))) == pytest.approx(2 / 3)
    half = "M:6/8\nL:1/8\nK:D\n|:A|d3 z3|g3 z3|A3 z3|G3 D2:|"  # every bar half silent
    assert bar_fill(piece_of(abc_to_midi(f"X:1\nT:t\n{half}\n"))) == 0.0


# --- end to end ---------------------------------------------------------------------------------------------
TUNES = {
    "jig_d": JIG, "jig_g": "M:6/8\nL:1/8\nK:G\n|:D|GBd gdB|cAF GBd|cBA BGE|DGF G2:|",
    "jig_a": "M:6/8\nL:1/8\nK:A\n|:E|Ace aec|dBG ABc|dcB ceA|EAG A2:|",
    "reel_d": "M:4/4\nL:1/8\nK:D\n|:dfaf gfed|cABc dcBA|dfaf gfed|cABc d4:|",
    "reel_g": "M:4/4\nL:1/8\nK:G\n|:GBdB cBAG|FDEF GABc|dBGB cAFA|GFGA G4:|",
    "reel_am": REEL_AM,
}


@pytest.fixture(scope="module")
def jigs_and_reels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tunes")
    for name, abc in TUNES.items():
        (folder / f"{name}.abc").write_text(f"X:1\nT:{name}\n{abc}\n")
    out = folder.parent / "jigs-and-reels"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEQGEN_CACHE", str(folder.parent / "cache"))
        seqgen.train(folder, out, max_steps=30, cell="gru", layers=1, hidden=32, batch_size=4, seq_len=32,
                     eval_every=30, device="cpu")
    return out


def run(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_sample_writes_the_metre_key_and_tempo_asked(jigs_and_reels: Path, tmp_path: Path) -> None:
    out = tmp_path / "jig.mid"
    r = run("sample", "-c", jigs_and_reels, "--meter", "6/8", "--key", "G", "--tempo", 110, "--midi", out,
            "--num", 3, "--seed", 2, "--length", 120, "--min-length", 0)
    assert_clean_exit(r)
    for i in (1, 2, 3):
        pm = pretty_midi.PrettyMIDI(str(tmp_path / f"jig-{i}.mid"))
        assert pm.get_tempo_changes()[1][0] == pytest.approx(110.0, abs=0.01)  # MIDI keeps microseconds a beat
        assert {(t.numerator, t.denominator) for t in pm.time_signature_changes} == {(6, 8)}
        assert [k.key_number for k in pm.key_signature_changes] == [parse_key("G")]


def test_seconds_count_at_the_tempo_asked(jigs_and_reels: Path, tmp_path: Path) -> None:
    """At 60 quarter notes per minute a bar lasts twice as long as at the decoder's 120: `--seconds 6` still means
    six seconds of the written file (every note starts within them; a briefly trained model may hold its last notes
    past the last bar line), and the samples, kept from ending early, reach well into them."""
    out = tmp_path / "slow.mid"
    r = run("sample", "-c", jigs_and_reels, "--tempo", 60, "--seconds", 6, "--midi", out, "--num", 3, "--seed", 4,
            "--length", 600, "--min-length", 600)
    assert_clean_exit(r)
    starts = [max(n.start for n in pretty_midi.PrettyMIDI(str(tmp_path / f"slow-{i}.mid")).instruments[0].notes)
              for i in (1, 2, 3)]
    assert all(start < 6.0 for start in starts), starts
    assert max(starts) > 3.0, starts  # the budget, not the length, ended them


def test_sample_refuses_what_the_model_cannot_be_asked(jigs_and_reels: Path, trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.mid"
    assert_clean_error(run("sample", "-c", jigs_and_reels, "--meter", "7/8", "--midi", out), "--meter 7/8",
                       "it writes 3/8, 6/8")
    assert_clean_error(run("sample", "-c", jigs_and_reels, "--key", "H", "--midi", out), "--key 'H': not a key")
    assert_clean_error(run("sample", "-c", trained, "--meter", "6/8"), "--meter is for music models",
                       "is a text model")
    assert not out.exists()


def test_training_measures_samples_beside_held_out_pieces_for_info(jigs_and_reels: Path) -> None:
    check = seqgen.load(jigs_and_reels, device="cpu").config["musicality"]
    assert check["samples"] == 8 and check["held_out"] == 1  # six tunes: one validates
    assert set(check["real"]) == set(check["sample"]) and 0 <= check["interval_overlap"] <= 1
    assert check["real"]["grid_share"] == 1.0  # a reel of eighth notes sits on the grid
    r = run("info", "-c", jigs_and_reels)
    assert_clean_exit(r)
    row = next(line for line in r.stdout.splitlines() if line.startswith("musicality"))
    assert "1 held-out pieces / 8 samples (seed 0, T 0.8): on the 16th grid 100% / " in row and "bars recur" in row
