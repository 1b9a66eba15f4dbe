"""Named training presets (`seqgen train DATA --preset NAME`): a goal, and the settings that reach it, so a user
need not rediscover them; options given explicitly override a preset's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqgen.errors import SeqgenError


@dataclass(frozen=True)
class Preset:
    """A goal (`description`), the DATA it is meant for (`data`: how to get it) and the training options for it."""

    name: str
    description: str
    data: str
    options: dict[str, Any]

    def flags(self) -> str:
        """The options as command-line flags, for help texts."""
        return " ".join(f"--{key.replace('_', '-')} {value:g}" if isinstance(value, float)
                        else f"--{key.replace('_', '-')} {value}" for key, value in self.options.items())


# 600 s of a GRU 2x256 (embed 64, the trainer's default lr, batch and window) reached 1.47 nats/char on 2 CPU
# cores; 1.547 nats/char is an interpolated Kneser-Ney 7-gram's score on the same split.
PRESETS = {p.name: p for p in (
    Preset("shakespeare-cpu",
           "character model of tiny-shakespeare: validation loss below 1.547 nats/char (a Kneser-Ney 7-gram) "
           "within 15 minutes on a 2-core CPU",
           "tiny-shakespeare, which `seqgen datasets fetch tinyshakespeare` downloads to data/tinyshakespeare",
           {"cell": "gru", "layers": 2, "hidden": 256, "embed": 64, "max_time": 900.0}),
)}


def get_preset(name: str) -> Preset:
    """The preset called `name`, or a one-line error listing the known ones."""
    if name not in PRESETS:
        raise SeqgenError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
