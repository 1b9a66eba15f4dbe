"""MuLawCodec: waveform samples <-> μ-law level tokens, checked on signals of several kinds and on edge cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from seqgen.codecs import MuLawCodec, codec_from_dict

CODEC = MuLawCodec()
RNG = np.random.default_rng(0)


def _signal(name: str) -> tuple[MuLawCodec, np.ndarray]:
    """A codec and one second (ten for ECG) of a test signal it should carry."""
    t = np.arange(16000) / 16000
    if name == "sine":
        return CODEC, 0.7 * np.sin(2 * np.pi * 440 * t)
    if name == "noise":  # a few samples past ±1 exercise clipping
        return CODEC, np.random.default_rng(1).normal(0, 0.4, 16000)
    if name == "chirp":  # linear sweep from 50 Hz to 7 kHz
        return CODEC, 0.9 * np.sin(2 * np.pi * (50 * t + (7000 - 50) * t**2 / 2))
    nk = pytest.importorskip("neurokit2")
    ecg = nk.ecg_simulate(duration=10, sampling_rate=500, heart_rate=70, random_state=0)
    return MuLawCodec(sample_rate=500, scale=MuLawCodec.fit_scale([ecg])), ecg


@pytest.mark.parametrize("name", ["sine", "noise", "chirp", "ecg"])
def test_round_trip_within_half_a_bin(name: str) -> None:
    codec, x = _signal(name)
    ids = codec.encode(x)
    assert len(ids) == len(x) and min(ids) >= 0 and max(ids) < codec.levels
    y = codec.decode(ids)
    assert y.dtype == np.float32 and y.shape == x.shape
    target = np.clip(x, -codec.scale, codec.scale)
    bound = codec.quantisation_error_bound(x)
    assert np.all(np.abs(y - target) <= bound + 1e-6)
    # the bound is not vacuous: never more than the top bin allows, and tiny for quiet samples
    top = 1 - (256 ** (1 - 1 / 256) - 1) / 255  # 1 - F^-1(centre of the top bin)
    assert bound.max() <= codec.scale * top + 1e-9
    assert np.all(codec.quantisation_error_bound(np.array([0.0, 1e-4])) < 2e-4 * codec.scale)


def test_companding_levels() -> None:
    x = RNG.uniform(-1, 1, 1000)
    reference = np.floor((np.sign(x) * np.log1p(255 * np.abs(x)) / np.log(256) + 1) * 128).astype(np.int64)
    assert np.array_equal(CODEC.encode_array(x), reference)
    assert CODEC.encode([0.0]) == [128]  # the middle level
    assert CODEC.encode([-1.0, 1.0]) == [0, 255]
    assert CODEC.encode([-5.0, 3.0, 1.0 + 1e-9]) == [0, 255, 255]  # beyond scale clips
    near_zero, near_one = np.diff(CODEC.decode([128, 129])), np.diff(CODEC.decode([254, 255]))
    assert 0 < near_zero[0] * 50 < near_one[0]  # quiet samples get much finer steps
    scaled = MuLawCodec(scale=2.5)
    assert scaled.encode([2.5, -2.5, 0.5]) == CODEC.encode([1.0, -1.0, 0.2])
    assert np.allclose(scaled.decode([0, 100, 255]), 2.5 * CODEC.decode([0, 100, 255]))


def test_tokens_and_document_form() -> None:
    small = MuLawCodec(bits=4)
    assert (small.levels, small.vocab_size, small.mu) == (16, 17, 15.0)
    assert small.special_ids == small.start_ids == [16] and small.end_ids == []
    doc = small.encode_document(np.array([-1.0, 0.0, 1.0]))
    assert doc == [16, 0, 8, 15]
    assert np.array_equal(small.decode(doc), small.decode(doc[1:])) and len(small.decode(doc)) == 3
    assert small.token_name(16) == "<start>" and small.token_name(3) == "level(3)"
    assert CODEC.describe() == "μ-law (256 levels, 16000 Hz, scale 1)"
    corpus = CODEC.encode_corpus([np.zeros(3), np.ones(2)])
    assert corpus.tolist() == [256, 128, 128, 128, 256, 255, 255]
    for bad in ([0.0, math.nan], [math.inf], np.zeros((2, 2))):
        with pytest.raises(ValueError):
            CODEC.encode(np.asarray(bad))
    with pytest.raises(ValueError):
        CODEC.decode([257])


def test_fit_scale() -> None:
    x = RNG.normal(0, 1.0, 20000)
    x[123] = 1e6  # one artefact spike must not set the full scale
    spiky = MuLawCodec.fit_scale([x, np.array([np.nan, 0.5])])
    assert 3.0 < spiky < 5.0
    assert spiky == pytest.approx(1.1 * np.quantile(np.abs(x), 0.999), rel=1e-3)
    assert MuLawCodec.fit_scale([np.zeros(100)]) == 1.0
    assert MuLawCodec.fit_scale([]) == 1.0 and MuLawCodec.fit_scale([np.full(4, np.nan)]) == 1.0


def test_resample_keeps_frequency_and_duration() -> None:
    sine = np.sin(2 * np.pi * 1000 * np.arange(44100) / 44100).astype(np.float32)
    codec = MuLawCodec(sample_rate=8000)
    out = codec.resample(sine, 44100)
    assert abs(len(out) - 8000) <= 1
    peak_hz = np.argmax(np.abs(np.fft.rfft(out))) * 8000 / len(out)
    assert abs(peak_hz - 1000) <= 8000 / len(out)
    assert np.array_equal(codec.resample(sine, 8000), sine)


def test_serialisation_and_validation() -> None:
    codec = MuLawCodec(sample_rate=500, bits=10, scale=1.7, channel=1, mu=100.0)
    d = json.loads(json.dumps(codec.to_dict()))
    assert d == {"kind": "mulaw", "sample_rate": 500, "bits": 10, "scale": 1.7, "channel": 1, "mu": 100.0}
    for rebuilt in (MuLawCodec.from_dict(d), codec_from_dict(d)):
        assert isinstance(rebuilt, MuLawCodec) and rebuilt.to_dict() == d
        x = RNG.uniform(-2, 2, 100)
        assert rebuilt.encode(x) == codec.encode(x)
    for bad in ({"sample_rate": 0}, {"sample_rate": 16000.5}, {"bits": 1}, {"bits": 17}, {"scale": 0.0},
                {"scale": math.inf}, {"channel": -1}, {"mu": 0.0}, {"mu": math.nan}):
        with pytest.raises(ValueError):
            MuLawCodec(**bad)
