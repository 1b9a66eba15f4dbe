"""The one exception type that carries a user-facing message (the CLI prints it as a single line)."""


class SeqgenError(Exception):
    """A problem with the user's input, data or checkpoint, described in one clear sentence."""
