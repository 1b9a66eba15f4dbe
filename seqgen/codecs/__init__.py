"""Codecs turn a domain's raw data into integer token ids and back."""

from seqgen.codecs.base import Codec, codec_from_dict, register
from seqgen.codecs.char import CharCodec
from seqgen.codecs.mulaw import MuLawCodec
from seqgen.codecs.notes import NoteEventCodec

__all__ = ["Codec", "CharCodec", "MuLawCodec", "NoteEventCodec", "codec_from_dict", "register"]
