"""Feasibility probe for metrical music tokens: MidiTok REMI/TSD on 50 folk tunes, BPE, and symusic synthesis.

Run: python benchmarks/metrical_probe.py [--tunes 50] [--wav out.wav]. Prints measurements only; writes nothing
but the optional WAV. Needs miditok and symusic (not seqgen dependencies yet).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqgen.domains.music.domain import FOLK
from seqgen.domains.music.files import _quiet_music21, piece_sources, score_to_midi
from seqgen.domains.music.metrical import MetricalCodec, meter_of, with_meter


@dataclass
class Tune:
    """One tune: its name, the Score given to MidiTok, and the music21 truth in quarters."""

    name: str
    score: object  # symusic.Score
    notes: list[tuple[float, float, int]]  # (onset, duration, pitch) in quarters, pickup padding included
    signatures: list[tuple[float, int, int]]
    padding: float
    tied: bool
    chord: bool
    bars: int
    unshifted: object = field(default=None)  # the Score with time signatures but no pickup shift


def sample_tunes(n: int, seed: int = 0) -> list:
    """n ABC tunes of the folk corpus, drawn with a fixed seed from all its tunes."""
    sources = [src for path in FOLK.files() for src in piece_sources(path)]
    return random.Random(seed).sample(sources, n), len(sources)


def load_tune(src) -> Tune:
    """Parse with music21 as seqgen does, note the truth, and build the metered Score."""
    from music21 import converter

    with _quiet_music21():
        m21 = converter.parseData(src.text, format="abc")
    tied = any(n.tie is not None for n in m21.recurse().notes)
    padding, signatures = meter_of(m21)
    flat = m21.stripTies().flatten()
    notes = sorted((float(el.offset) + padding, float(el.quarterLength), p.midi)
                   for el in flat.notes if el.quarterLength > 0 for p in el.pitches)
    chord = any(el.isChord for el in flat.notes)
    part = m21.parts[0] if m21.parts else m21
    bars = len(part.getElementsByClass("Measure"))
    pm = score_to_midi(m21, in_place=True)
    return Tune(src.name, with_meter(pm, padding, signatures), notes, signatures, padding, tied, chord, bars,
                with_meter(pm, 0.0, signatures))


def note_list(score, tpq: int) -> list[tuple[float, float, int]]:
    """All notes of a Score as sorted (onset, duration, pitch) in quarters."""
    return sorted((n.time / tpq, n.duration / tpq, n.pitch) for t in score.tracks for n in t.notes)


def compare(got: list, want: list) -> Counter:
    """Mismatch counts between two sorted note lists: missing/extra notes, wrong onsets, wrong durations."""
    c: Counter = Counter()
    if len(got) != len(want):
        c["count"] += abs(len(got) - len(want))
    for (t1, d1, p1), (t2, d2, p2) in zip(got, want, strict=False):
        c["pitch"] += p1 != p2
        c["onset"] += abs(t1 - t2) > 1e-9
        c["duration"] += abs(d1 - d2) > 1e-9
    return c


def signatures_of(score, tpq: int) -> list[tuple[float, int, int]]:
    return [(ts.time / tpq, ts.numerator, ts.denominator) for ts in score.time_signatures]


def truth_signatures(tune: Tune) -> list[tuple[float, int, int]]:
    """The tune's time signatures as MidiTok should give them back: consecutive repeats dropped, shifted."""
    out: list[tuple[float, int, int]] = []
    for offset, num, den in tune.signatures:
        if not out or out[-1][1:] != (num, den):
            out.append((0.0 if offset == 0 else offset + tune.padding, num, den))
    if not out or out[0][0] != 0:  # MidiTok's decode puts 4/4 at tick 0 when the piece has no opening signature
        out.insert(0, (0.0, 4, 4))
    return out


def round_trips(codec: MetricalCodec, tunes: list[Tune]) -> None:
    """Tokens per note, and decode(encode(x)) against MidiTok's own quantised input and music21's truth."""
    tok = codec.tokenizer
    lengths, notes_n = [], 0
    vs_pre, vs_truth, ts_bad, per_case = Counter(), Counter(), 0, Counter()
    for tune in tunes:
        ids = codec.encode(tune.score)
        lengths.append(len(ids))
        notes_n += len(tune.notes)
        out = codec.decode(ids)
        tpq = out.ticks_per_quarter
        pre = tok.preprocess_score(codec_one(tune.score))
        c_pre = compare(note_list(out, tpq), note_list(pre, pre.ticks_per_quarter))
        c_truth = compare(note_list(out, tpq), tune.notes)
        vs_pre += c_pre
        vs_truth += c_truth
        ts_ok = signatures_of(out, tpq) == truth_signatures(tune)
        ts_bad += not ts_ok
        bad = sum(c_truth.values()) > 0 or not ts_ok
        for case, on in (("pickup", tune.padding > 0), ("6/8", any(s[1:] == (6, 8) for s in tune.signatures)),
                         ("tied", tune.tied), ("chord", tune.chord)):
            if on:
                per_case[case] += 1
                per_case[case + " bad"] += bad
        if bad and per_case["shown"] < 6:
            per_case["shown"] += 1
            print(f"    mismatch {tune.name}: {dict(c_truth)} ts {signatures_of(out, tpq)} vs {truth_signatures(tune)}")
    print(f"  {codec.describe()}: {sum(lengths)} tokens for {notes_n} notes = {sum(lengths) / notes_n:.2f} "
          f"tokens/note; mean {np.mean(lengths):.0f} tokens/tune")
    print(f"  vs MidiTok-preprocessed input: {dict(vs_pre) or 'no mismatches'}")
    print(f"  vs music21 truth: {dict(vs_truth) or 'no mismatches'}; time-signature lists differing: {ts_bad}")
    print("  cases (tunes, of which any mismatch): " + ", ".join(
        f"{k} {per_case[k]} ({per_case[k + ' bad']})" for k in ("pickup", "6/8", "tied", "chord")))


def codec_one(score):
    from seqgen.domains.music.metrical import _one_track

    return _one_track(score)


def pickup_report(tunes: list[Tune]) -> None:
    """How REMI places a pickup with and without the shift: first bar/position tokens, bars vs music21's."""
    codec = MetricalCodec("REMI")
    tune = next(t for t in tunes if t.padding > 0)
    for label, score in (("shifted", tune.score), ("unshifted", tune.unshifted)):
        toks = codec.base_tokens(score)
        print(f"  {label:9} {tune.name}: {' '.join(toks[:8])} ... Bar tokens {toks.count('Bar_None')}, "
              f"music21 measures {tune.bars}")
    agree = Counter()
    for t in tunes:
        for label, score in (("shifted", t.score), ("unshifted", t.unshifted)):
            agree[label] += codec.base_tokens(score).count("Bar_None") == t.bars
    print(f"  tunes whose Bar count equals music21's measure count: {dict(agree)} of {len(tunes)} "
          f"({sum(t.padding > 0 for t in tunes)} have a pickup)")


def bpe_report(tunes: list[Tune], sizes: tuple[int, ...]) -> None:
    """Sequence-length reduction of BPE trained on REMI tokens: trained on all tunes (in-sample), and trained on
    the first 80% and measured on the rest (held out); plus that decoding and to_dict/from_dict are unchanged."""
    base = MetricalCodec("REMI")
    split = len(tunes) * 4 // 5
    for label, train, test in (("in-sample", tunes, tunes), ("held-out", tunes[:split], tunes[split:])):
        base_len = sum(len(base.encode(t.score)) for t in test)
        for size in sizes:
            codec = MetricalCodec("REMI")
            t0 = time.perf_counter()
            codec.train_bpe([t.score for t in train], size)
            train_s = time.perf_counter() - t0
            n = sum(len(codec.encode(t.score)) for t in test)
            same = sum(_notes(codec, t.score) == _notes(base, t.score) for t in test)
            again = MetricalCodec.from_dict(json.loads(json.dumps(codec.to_dict())))
            reload_ok = all(again.encode(t.score) == codec.encode(t.score) for t in test)
            print(f"  BPE {size} {label} (train {len(train)}, measure {len(test)}): vocab {codec.vocab_size}, "
                  f"{n} tokens vs {base_len} = {n / base_len:.3f} ({1 - n / base_len:.1%} shorter), trained in "
                  f"{train_s:.1f} s; decodes as without BPE: {same}/{len(test)}; JSON reload same ids: {reload_ok}")


def _notes(codec: MetricalCodec, score) -> list[tuple[float, float, int]]:
    out = codec.decode(codec.encode(score))
    return note_list(out, out.ticks_per_quarter)


def synth_report(tune: Tune, wav: Path | None) -> None:
    """Render a tune and a 1 s piano C4 with symusic's Synthesizer on pretty_midi's TimGM6mb.sf2."""
    import pretty_midi
    import symusic

    sf2 = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    rate = 44100
    t0 = time.perf_counter()
    synth = symusic.Synthesizer(str(sf2), rate, 0)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    audio = synth.render(tune.score, True)
    render_s = time.perf_counter() - t0
    seconds = audio.shape[1] / rate
    print(f"  {sf2.name} ({sf2.stat().st_size / 2**20:.1f} MB) loaded in {load_s:.2f} s; {tune.name}: "
          f"{seconds:.1f} s of audio {audio.shape} rendered in {render_s:.2f} s ({seconds / render_s:.0f}x real "
          f"time), peak {np.abs(audio).max():.3f}")
    if wav:
        symusic.dump_wav(str(wav), audio, rate, True)
        print(f"  wrote {wav}")
    note = symusic.Score(480)
    track = symusic.Track("piano", 0, False)
    track.notes.append(symusic.Note(0, 480 * 2, 60, 100))  # 1 s at 120 bpm
    note.tracks.append(track)
    mono = synth.render(note, False)[0]
    print(f"  C4 1 s piano: {mono.shape[0] / rate:.2f} s rendered, partials 1..6 (dB re partial 1): "
          f"{partials(mono[: rate], rate, 261.63)}")
    sine = np.sin(2 * np.pi * 261.63 * np.arange(rate) / rate).astype(np.float32)
    print(f"  pure sine 261.63 Hz:  partials 1..6 (dB re partial 1): {partials(sine, rate, 261.63)}")


def partials(x: np.ndarray, rate: int, f0: float) -> list[float]:
    """Peak magnitude near k*f0 (k = 1..6, within 3%) of a Hann-windowed spectrum, in dB relative to k=1."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    peaks = [spec[(freqs > k * f0 * 0.97) & (freqs < k * f0 * 1.03)].max() for k in range(1, 7)]
    return [round(float(20 * np.log10(p / peaks[0] + 1e-12)), 1) for p in peaks]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tunes", type=int, default=50)
    ap.add_argument("--wav", type=Path)
    args = ap.parse_args()
    t0 = time.perf_counter()
    sources, total = sample_tunes(args.tunes)
    tunes, failed = [], []
    for src in sources:
        try:
            tunes.append(load_tune(src))
        except Exception as e:  # report, do not stop: a probe
            failed.append(f"{src.name}: {e}")
    print(f"{len(tunes)} of {args.tunes} tunes read (of {total} in the corpus), {len(failed)} failed, "
          f"{time.perf_counter() - t0:.1f} s; {sum(len(t.notes) for t in tunes)} notes")
    for line in failed:
        print("  failed:", line)
    sigs = Counter(f"{n}/{d}" for t in tunes for _, n, d in t.signatures)
    print(f"time signatures: {dict(sigs)}; pickups {sum(t.padding > 0 for t in tunes)}, tied "
          f"{sum(t.tied for t in tunes)}, chords {sum(t.chord for t in tunes)}")
    for tokenization in ("REMI", "TSD"):
        codec = MetricalCodec(tokenization)
        print(f"{tokenization}: vocabulary {codec.vocab_size}")
        round_trips(codec, tunes)
    print("pickup:")
    pickup_report(tunes)
    print("BPE:")
    bpe_report(tunes, (500, 1000))
    print("synthesis:")
    synth_report(tunes[0], args.wav)


if __name__ == "__main__":
    main()
