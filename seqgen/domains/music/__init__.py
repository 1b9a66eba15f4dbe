"""Music: MIDI, ABC, MusicXML and Humdrum files as performance events; samples are PrettyMIDI pieces."""

from seqgen.domains.music.domain import MUSIC

__all__ = ["MUSIC"]
