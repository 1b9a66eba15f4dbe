"""Musicality measures on hand-built pieces whose right answers are known."""

from __future__ import annotations

import random

import numpy as np
import pretty_midi
import pytest

from seqgen.codecs.notes import Note as CodecNote
from seqgen.domains.music.musicality import (
    Note,
    Piece,
    compare,
    figure_repetition,
    grid_share,
    interval_counts,
    key_share,
    local_grid_share,
    measure,
    melody,
    note_density,
    overlap,
    phrase_repetition,
    piece_of,
    pitch_range,
    range_counts,
    summarise,
)

EIGHTH = 0.25  # seconds at the default 120 bpm
C_MAJOR = [60, 62, 64, 65, 67, 69, 71, 72]


def line(pitches: list[int], step: float = EIGHTH, start: float = 0.0) -> list[Note]:
    """Pitches played one after another, each `step` seconds long."""
    return [Note(p, start + i * step, step, 80) for i, p in enumerate(pitches)]


def rhythm(pitches: list[int], sixteenths: list[int], start: float = 0.0) -> list[Note]:
    """Pitches with the given inter-onset intervals in 16th notes (120 bpm: 0.125 s each), the last a 16th."""
    notes, t = [], start
    for p, g in zip(pitches, sixteenths + [1], strict=False):
        notes.append(Note(p, t, g * 0.125, 80))
        t += g * 0.125
    return notes


def random_notes(n: int, seed: int = 0) -> list[Note]:
    """Random pitches (two octaves) and random inter-onset intervals of 1-4 16th notes."""
    rng = random.Random(seed)
    return rhythm([rng.randrange(55, 79) for _ in range(n)], [rng.randint(1, 4) for _ in range(n - 1)])


# --- grid ---------------------------------------------------------------------------------------------
def test_scale_on_the_grid_is_fully_on_the_grid_and_in_key() -> None:
    m = measure(line(C_MAJOR))
    assert m.grid_share == 1.0
    assert m.key_share == 1.0


def test_off_grid_onsets_lower_the_grid_share_by_their_share() -> None:
    notes = line(C_MAJOR)
    notes[3] = notes[3]._replace(onset=notes[3].onset + 0.03)  # 0.24 of a 16th late: off
    notes[5] = notes[5]._replace(onset=notes[5].onset - 0.04)
    assert grid_share(piece_of(notes)) == pytest.approx(6 / 8)


def test_grid_tolerance_is_an_eighth_of_a_sixteenth() -> None:
    tolerance = 0.125 / 8  # seconds at 120 bpm
    inside, outside = line(C_MAJOR), line(C_MAJOR)
    inside[4] = inside[4]._replace(onset=inside[4].onset + 0.99 * tolerance)
    outside[4] = outside[4]._replace(onset=outside[4].onset + 1.01 * tolerance)
    assert grid_share(piece_of(inside)) == 1.0
    assert grid_share(piece_of(outside)) == pytest.approx(7 / 8)


def test_grid_starts_where_the_onsets_are() -> None:
    assert grid_share(piece_of(line(C_MAJOR, start=0.07))) == 1.0


def test_local_grid_share_judges_each_inter_onset_interval() -> None:
    assert local_grid_share(piece_of(line(C_MAJOR))) == 1.0
    late = line(C_MAJOR)
    late[3] = late[3]._replace(onset=late[3].onset + 0.03)  # both intervals around the late note are off
    assert local_grid_share(piece_of(late)) == pytest.approx(5 / 7)
    assert local_grid_share(piece_of(line([60]))) == 1.0
    assert local_grid_share(piece_of(line(C_MAJOR, step=0.01))) == 0.0  # faster than 16ths is not on the grid


def test_the_grid_keeps_the_phase_most_onsets_keep() -> None:
    """A lone note before steady eighths (a stray pickup, a hesitation) is one note off the grid, not the piece; a
    slip halfway puts the half out of step off it, and the local pulse notices only the slip."""
    pickup = line([60]) + line(C_MAJOR, start=0.17)  # one note, a 170 ms gap, then steady eighths
    assert grid_share(piece_of(pickup)) == pytest.approx(8 / 9)
    assert local_grid_share(piece_of(pickup)) == pytest.approx(7 / 8)
    slipped = line(C_MAJOR) + line(C_MAJOR, start=8 * EIGHTH + 0.07)  # 8 eighths, then 8 more 70 ms late
    assert grid_share(piece_of(slipped)) == pytest.approx(8 / 16)
    assert local_grid_share(piece_of(slipped)) == pytest.approx(14 / 15)


def test_random_timing_is_on_the_grid_about_a_quarter_of_the_time() -> None:
    rng = np.random.default_rng(0)
    onsets = np.cumsum(rng.uniform(0.1, 0.6, 2000))
    piece = piece_of([Note(60, float(t), 0.1, 80) for t in onsets])
    assert grid_share(piece) == pytest.approx(0.25, abs=0.03)
    assert local_grid_share(piece) == pytest.approx(0.25, abs=0.03)


def test_triplets_are_off_the_grid() -> None:
    triplet = 0.5 / 3  # eighth-note triplets: three to a quarter
    notes = line([60] * 9, step=triplet)  # onsets at 0, 1/3, 2/3, 1, ... quarter: every third one on the grid
    assert grid_share(piece_of(notes)) == pytest.approx(3 / 9)


def test_bpm_sets_the_grid_for_note_lists() -> None:
    notes = line(C_MAJOR, step=0.2)  # 16th notes at 75 bpm
    assert grid_share(piece_of(notes, bpm=75)) == 1.0
    assert grid_share(piece_of(notes)) < 0.5


# --- tempo from MIDI ------------------------------------------------------------------------------------
def midi_at(bpm: float, onsets: list[float], path, numerator: int | None = None) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    if numerator is not None:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(numerator, 4, 0.0))
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(80, 60 + i % 5, t, t + 0.1) for i, t in enumerate(onsets)]
    pm.instruments.append(inst)
    pm.write(str(path))
    return pretty_midi.PrettyMIDI(str(path))


def test_tempo_of_a_midi_file_is_honoured(tmp_path) -> None:
    eighth_at_90 = 60 / 90 / 2  # 1/3 s
    onsets = [i * eighth_at_90 for i in range(9)]
    pm = midi_at(90, onsets, tmp_path / "ninety.mid")
    piece = piece_of(pm)
    assert piece.tempi[0] == pytest.approx(90, rel=1e-4)  # MIDI stores whole microseconds per quarter
    assert grid_share(piece) == 1.0
    # the same notes read as a plain note list at the default 120 bpm: 1/3 s is 2 2/3 16ths, on the grid every 3rd
    as_notes = [Note(n.pitch, n.start, n.end - n.start, n.velocity) for n in pm.instruments[0].notes]
    assert grid_share(piece_of(as_notes)) == pytest.approx(3 / 9)


def test_time_signature_of_a_midi_file_sets_the_bar(tmp_path) -> None:
    pm = midi_at(120, [0.0, 0.5], tmp_path / "waltz.mid", numerator=3)
    assert piece_of(pm).quarters_per_bar == 3.0
    assert piece_of(midi_at(120, [0.0], tmp_path / "plain.mid")).quarters_per_bar == 4.0


def test_tempo_changes_move_the_grid() -> None:
    piece = Piece((), tempo_times=(0.0, 2.0), tempi=(120.0, 60.0))
    assert piece.quarters(np.array([1.0, 2.0, 3.0])) == pytest.approx([2.0, 4.0, 5.0])


def test_note_objects_with_start_and_end_are_read_too() -> None:
    codec_notes = [CodecNote(64, 0.5, 1.0, 70), CodecNote(60, 0.0, 0.5, 80)]
    midi_notes = [pretty_midi.Note(80, 60, 0.0, 0.5), pretty_midi.Note(70, 64, 0.5, 1.0)]
    expected = (Note(60, 0.0, 0.5, 80), Note(64, 0.5, 0.5, 70))
    assert piece_of(codec_notes).notes == expected
    assert piece_of(midi_notes).notes == expected
    assert piece_of([(64, 0.5, 0.5, 70), (60, 0.0, 0.5, 80)]).notes == expected


def test_drum_tracks_are_left_out() -> None:
    pm = pretty_midi.PrettyMIDI()
    drums, piano = pretty_midi.Instrument(0, is_drum=True), pretty_midi.Instrument(0)
    drums.notes = [pretty_midi.Note(100, 36, 0.01, 0.1)]
    piano.notes = [pretty_midi.Note(80, 60, 0.0, 0.5), pretty_midi.Note(80, 62, 0.5, 1.0)]
    pm.instruments += [drums, piano]
    assert [n.pitch for n in piece_of(pm).notes] == [60, 62]


# --- key ---------------------------------------------------------------------------------------------
def test_chromatic_cluster_scores_low_key_share() -> None:
    assert key_share(piece_of(line(list(range(60, 72))))) == pytest.approx(7 / 12)
    assert key_share(piece_of([Note(p, 0.0, 1.0, 80) for p in range(60, 72)])) == pytest.approx(7 / 12)


def test_key_share_takes_the_best_fitting_scale() -> None:
    # C major plus two F sharps: G major holds 9 of the 10 notes (all but F), C major 8
    assert key_share(piece_of(line(C_MAJOR + [66, 66]))) == pytest.approx(9 / 10)


def test_minor_keys_are_candidates() -> None:
    a_harmonic_minor = [57, 59, 60, 62, 64, 65, 68, 69]  # G sharp is outside every scale holding the rest
    assert key_share(piece_of(line(a_harmonic_minor))) == pytest.approx(7 / 8)
    e_flat_minor = [63, 65, 66, 68, 70, 71, 73, 75]
    assert key_share(piece_of(line(e_flat_minor))) == 1.0


# --- density, range, intervals -------------------------------------------------------------------------
def test_note_density_is_notes_per_second_from_first_onset_to_last_release() -> None:
    assert note_density(piece_of(line(C_MAJOR))) == pytest.approx(8 / 2.0)
    assert note_density(piece_of(line(C_MAJOR, start=3.0))) == pytest.approx(4.0)
    chords = [Note(p, 0.0, 1.0, 80) for p in (60, 64, 67)] + [Note(p, 1.0, 1.0, 80) for p in (62, 65)]
    assert note_density(piece_of(chords)) == pytest.approx(5 / 2.0)


def test_pitch_range_and_interval_histogram() -> None:
    piece = piece_of(line([60, 62, 60, 79, 72, 72, 40]))
    assert pitch_range(piece) == 39.0
    counts = interval_counts(piece)
    assert counts.sum() == 6
    expected = {2: 1, -2: 1, 12: 1, -7: 1, 0: 1, -12: 1}  # +19 and -32 are clipped to an octave
    assert {i - 12: int(c) for i, c in enumerate(counts) if c} == expected


def test_melody_is_the_top_note_at_each_onset() -> None:
    chords = [Note(p, t, 0.5, 80) for t, ps in ((0.0, (48, 64, 60)), (0.5, (50, 65)), (1.0, (71,))) for p in ps]
    assert [n.pitch for n in melody(piece_of(chords))] == [64, 65, 71]
    assert interval_counts(piece_of(chords))[12 + 1] == 1 and interval_counts(piece_of(chords))[12 + 6] == 1


# --- repetition ------------------------------------------------------------------------------------------
FIGURE = [62, 66, 69, 74, 73, 71, 69, 66]
FIGURE_RHYTHM = [2, 1, 1, 2, 2, 1, 1, 4]  # inter-onset intervals in 16ths, the last leading into the repeat


def test_figure_played_twice_repeats_fully() -> None:
    twice = rhythm(FIGURE * 2, FIGURE_RHYTHM * 2)
    assert figure_repetition(piece_of(twice)) == 1.0


def test_figure_repetition_is_transposition_invariant() -> None:
    up_a_fourth = [p + 5 for p in FIGURE]
    assert figure_repetition(piece_of(rhythm(FIGURE + up_a_fourth, FIGURE_RHYTHM * 2))) == 1.0


def test_figure_with_another_rhythm_does_not_repeat() -> None:
    other = [1, 1, 1, 2, 2, 1, 1, 4]
    assert figure_repetition(piece_of(rhythm(FIGURE * 2, FIGURE_RHYTHM + other))) == 0.0


def test_figure_repetition_counts_only_the_notes_in_repeated_figures() -> None:
    fresh = [60, 67, 61, 70, 58, 63, 75, 57]  # 8 new notes after the repeated figure
    notes = rhythm(FIGURE * 2 + fresh, FIGURE_RHYTHM * 2 + [1, 3, 2, 1, 2, 3, 1])
    assert figure_repetition(piece_of(notes)) == pytest.approx(16 / 24)


def test_random_notes_hardly_repeat() -> None:
    for seed in range(3):
        piece = piece_of(random_notes(200, seed))
        assert figure_repetition(piece) < 0.05
        assert phrase_repetition(piece) < 0.05


def test_short_pieces_have_no_figure_repetition() -> None:
    assert figure_repetition(piece_of(line(C_MAJOR * 2)[:15])) == 0.0


BAR_A = [67, 65, 64, 62]  # a bar of quarter notes at 120 bpm: 2 s
BAR_B = [60, 62, 64, 67]
BAR_C = [69, 71, 72, 67]
BAR_D = [65, 69, 62, 64]  # no 4 consecutive quarters of A B C D come twice


def bars(*contents: list[int]) -> list[Note]:
    return line([p for c in contents for p in c], step=0.5)


def test_aabb_form_repeats_at_the_phrase_level() -> None:
    a, b = BAR_A + BAR_B, BAR_C + BAR_D  # two-bar phrases
    assert phrase_repetition(piece_of(bars(a, a, b, b))) == 1.0
    assert phrase_repetition(piece_of(bars(a, a, b, BAR_B, BAR_A))) >= 0.5
    assert phrase_repetition(piece_of(bars(BAR_A, BAR_B, BAR_C, BAR_D))) == 0.0
    assert phrase_repetition(piece_of(bars(BAR_A, BAR_A, BAR_C, BAR_D))) == pytest.approx(2 / 4)


def test_phrase_repetition_is_not_transposition_invariant() -> None:
    assert phrase_repetition(piece_of(bars(BAR_A, [p + 2 for p in BAR_A]))) == 0.0


def test_phrase_repetition_follows_the_bar_length() -> None:
    # 3/4 bars A A C: a 3-quarter passage recurs; no 4-quarter passage does (A is always followed by another note)
    waltz = bars(BAR_A[:3], BAR_A[:3], BAR_C[:3])
    assert phrase_repetition(Piece(piece_of(waltz).notes, quarters_per_bar=3.0)) == pytest.approx(6 / 9)
    assert phrase_repetition(piece_of(waltz)) == 0.0


def test_phrase_repetition_does_not_depend_on_where_bar_lines_fall() -> None:
    # an upbeat, a bar, half a bar of something else, the same bar again: 6 quarters apart, across bar lines
    upbeat = line([55], step=0.5)
    rest = bars(BAR_A, [72, 71], BAR_A)
    notes = upbeat + [n._replace(onset=n.onset + 0.5) for n in rest]
    assert phrase_repetition(piece_of(notes)) == pytest.approx(8 / 11)


def test_overlapping_passages_do_not_count_as_repeats() -> None:
    # the same quarter note eight times: every passage recurs, but only a bar or more away
    assert phrase_repetition(piece_of(bars([60] * 4, [60] * 4))) == 1.0
    assert phrase_repetition(piece_of(bars([60] * 4, [60] * 3))) == 0.0


# --- sets ------------------------------------------------------------------------------------------------
def test_overlap_of_identical_and_disjoint_histograms() -> None:
    a = np.array([3, 1, 0, 2])
    assert overlap(a, a) == pytest.approx(1.0)
    assert overlap(a, 10 * a) == pytest.approx(1.0)  # distributions, not counts
    assert overlap(np.array([1, 1, 0, 0]), np.array([0, 0, 2, 5])) == 0.0
    assert overlap(np.array([1, 1, 0]), np.array([0, 1, 1])) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        overlap(np.array([1, 0]), np.array([0, 0]))


def test_summarise_takes_the_mean_of_each_measure() -> None:
    ms = [measure(line(C_MAJOR)), measure(line(list(range(60, 72))))]
    summary = summarise(ms)
    assert summary["key_share"] == pytest.approx((1 + 7 / 12) / 2)
    assert summary["pitch_range"] == pytest.approx((12 + 11) / 2)
    assert summary["note_density"] == pytest.approx(4.0)
    assert "interval_counts" not in summary


def test_compare_identical_sets_agree_and_disjoint_ones_do_not() -> None:
    real = [measure(line(C_MAJOR)), measure(rhythm(FIGURE * 2, FIGURE_RHYTHM * 2))]
    same = compare(real, real)
    assert all(row.difference == 0 for row in same.rows)
    assert same.interval_overlap == pytest.approx(1.0) and same.pitch_range_overlap == pytest.approx(1.0)
    wide = [measure(line([40, 80, 40, 80, 40, 80, 40, 80]))]  # only octave-clipped leaps, range 40
    apart = compare(real, wide)
    assert apart.interval_overlap == 0.0 and apart.pitch_range_overlap == 0.0
    row = {r.measure: r for r in apart.rows}["pitch_range"]
    assert (row.real, row.sample, row.difference) == (12.0, 40.0, 28.0)


def test_range_histogram_bins_of_three_semitones() -> None:
    ms = [measure(line([60, 60 + r])) for r in (0, 2, 3, 60)]
    counts = range_counts(ms)
    assert counts[0] == 2 and counts[1] == 1 and counts[-1] == 1 and counts.sum() == 4


def test_a_piece_without_notes_is_an_error() -> None:
    with pytest.raises(ValueError, match="no notes"):
        measure([])
