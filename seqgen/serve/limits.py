"""What one request to `seqgen serve` may ask for, and the clear 4xx errors for asking more."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from seqgen.errors import SeqgenError


class RequestError(SeqgenError):
    """A request the page cannot serve, with the HTTP status that says why (4xx) and one clear sentence."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """Upper bounds that keep one local user's request from taking the machine for minutes."""

    upload_bytes: int = 20 * 2**20  # one uploaded file (or one request body)
    tokens: int = 4000  # new tokens per sample
    samples: int = 8  # samples per request
    seconds: float = 180.0  # seconds of music per sample
    score_chars: int = 50_000  # characters pasted for scoring, all lines together
    score_lines: int = 500
    signal_samples: int = 2_000_000  # samples of one recording, at the model's rate
    request_seconds: float = 300.0  # generation stops with an error past this

    def as_dict(self) -> dict[str, Any]:
        """For the page, which checks what it can before sending (a file's size above all)."""
        return asdict(self)

    def check_sampling(self, num: int, length: int | None, seconds: float | None) -> None:
        """A 422 for more samples, tokens or seconds than allowed."""
        if num > self.samples:
            raise RequestError(f"at most {self.samples} samples at once (asked for {num})", 422)
        if length is not None and length > self.tokens:
            raise RequestError(f"at most {self.tokens} new tokens per sample (asked for {length})", 422)
        if seconds is not None and seconds > self.seconds:
            raise RequestError(f"at most {self.seconds:g} seconds per sample (asked for {seconds:g})", 422)

    def check_scoring(self, lines: list[str]) -> None:
        """A 422 for nothing to score, or more lines or characters than allowed."""
        if not lines:
            raise RequestError("nothing to score: paste one sentence or record per line", 422)
        if len(lines) > self.score_lines:
            raise RequestError(f"at most {self.score_lines} lines at once (pasted {len(lines)})", 422)
        chars = sum(len(line) for line in lines)
        if chars > self.score_chars:
            raise RequestError(f"at most {self.score_chars:,} characters at once (pasted {chars:,})", 413)

    def check_signal(self, length: int, rate: float) -> None:
        """A 413 for a recording longer than allowed."""
        if length > self.signal_samples:
            most = self.signal_samples / rate
            raise RequestError(f"the recording is {length / rate:,.0f} s long; at most {most:,.0f} s can be scored "
                               "at once", 413)

    def too_large(self, what: str = "the upload") -> RequestError:
        """The 413 for a body over `upload_bytes`."""
        return RequestError(f"{what} is larger than the {self.upload_bytes / 2**20:g} MB limit", 413)
