"""Music: MIDI, ABC, MusicXML and Humdrum files as metrical (REMI) or performance events; samples are PrettyMIDI
pieces, which an `Opening` can ask for a metre and key."""

from seqgen.domains.music.domain import MUSIC
from seqgen.domains.music.opening import Opening

__all__ = ["MUSIC", "Opening"]
