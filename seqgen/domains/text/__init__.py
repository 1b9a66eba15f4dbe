"""Text: UTF-8 files as a stream of characters; samples are strings, scores are per text."""

from seqgen.domains.text.domain import TEXT

__all__ = ["TEXT"]
