"""The one exception type that carries a user-facing message (the CLI prints it as a single line)."""


class SeqgenError(Exception):
    """A problem with the user's input, data or checkpoint, described in one clear sentence."""


def reason(e: Exception) -> str:
    """A library's exception as one short line (its type and the start of its message), for error messages."""
    message = " ".join(str(e).split())
    text = f"{type(e).__name__}: {message}" if message else type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."
