"""Waveform DATA -> token streams: recordings resampled to one rate and μ-law coded; the last tenth of every
recording validates (a signal's character drifts along it, so each recording gives both)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqgen.codecs import MuLawCodec
from seqgen.data import split_stream
from seqgen.domains.base import Inputs, ReadSettings, TrainingData
from seqgen.domains.waveform.protocol import SampleCodec
from seqgen.domains.waveform.signals import AUDIO_SUFFIXES, Recording, read_recording
from seqgen.errors import SeqgenError

AUDIO_RATE = 16000  # default model rate for audio: speech and most music keep their character at 16 kHz


def read_waveform_data(inputs: Inputs, codec: SampleCodec | None, settings: ReadSettings) -> TrainingData:
    """The recordings as one TBPTT stream of whole recordings, their tails as validation; without `codec` a
    MuLawCodec at the `rate` option (audio: min(native, 16 kHz); signals: native) with a fitted scale."""
    read_options, codec_options = settings.read_options, settings.codec_options
    recordings = [read_recording(f, **read_options) for f in inputs.files]
    notes = [f"{r.name}: {n}" for r in recordings for n in r.notes]
    if codec is None:
        audio = all(Path(r.name).suffix.lower() in AUDIO_SUFFIXES for r in recordings)
        native = min(int(round(r.sample_rate)) for r in recordings)
        rate = codec_options.get("rate") or (min(native, AUDIO_RATE) if audio else native)
        scale = 1.0 if audio else MuLawCodec.fit_scale([r.samples for r in recordings])
        bits = {"bits": codec_options["bits"]} if codec_options.get("bits") else {}  # else the codec's default
        codec = MuLawCodec(sample_rate=int(rate), scale=scale, **bits)
    streams = [_coded(codec, r) for r in recordings]
    train_parts, val_parts = [], []
    for ids in streams:
        head, tail = split_stream(ids, settings.val_fraction)
        train_parts.append(head)
        if len(tail):
            val_parts.append(np.concatenate([codec.start_ids, tail]).astype(codec.token_dtype))
    train = np.concatenate(train_parts).astype(codec.token_dtype)
    val = np.concatenate(val_parts) if val_parts else np.zeros(0, codec.token_dtype)
    if len(train) < 2:
        raise SeqgenError("too little signal to train on")
    seconds = sum(len(r.samples) / r.sample_rate for r in recordings)
    summary = {"documents": len(recordings), "hours": round(seconds / 3600, 3), "tokens": int(len(train) + len(val)),
               "train_tokens": int(len(train)), "val_tokens": int(len(val)), "read_options": read_options}
    return TrainingData(codec, train, val, summary, notes)


def _coded(codec: SampleCodec, recording: Recording) -> np.ndarray:
    """`<start>` and the μ-law levels of a recording at the codec's rate."""
    samples = codec.resample(recording.samples, int(round(recording.sample_rate)))
    return np.asarray(codec.encode_document(samples), dtype=codec.token_dtype)
