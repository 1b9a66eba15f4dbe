"""Codecs turn a domain's raw data into integer token ids and back."""

from seqgen.codecs.base import Codec, codec_from_dict, register
from seqgen.codecs.char import CharCodec

__all__ = ["Codec", "CharCodec", "codec_from_dict", "register"]
