"""What the text domain needs from its codec beyond the `Codec` interface."""

from __future__ import annotations

from typing import Protocol


class CharacterCodec(Protocol):
    """A codec over characters: encodes strings and knows which characters are outside its vocabulary."""

    def encode(self, data: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def unknown_chars(self, text: str) -> list[str]:
        """Characters of `text` the vocabulary lacks (scored as <unk>), each once."""
        ...

    def token_name(self, token_id: int) -> str: ...

    @property
    def start_ids(self) -> list[int]: ...

    @property
    def end_ids(self) -> list[int]: ...
