"""pretty_midi, imported quietly: pyfluidsynth, which pretty_midi imports, prints where it found its library when
$CI is set, and seqgen never prints. Every module takes pretty_midi from here (`from seqgen.midi import pretty_midi`),
on first use of a music feature, never at `import seqgen`."""

import contextlib
import io

with contextlib.redirect_stdout(io.StringIO()):
    import pretty_midi

__all__ = ["pretty_midi"]
