"""Waveforms: audio, WFDB records, CSV and numpy signals as μ-law levels; samples are signals, scores are windows."""

from seqgen.domains.waveform.domain import WAVEFORM

__all__ = ["WAVEFORM"]
