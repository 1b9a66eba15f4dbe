"""Fine-tuning (`seqgen train DATA --from CKPT`): a new run that starts from a trained model's weights and codec.

The base keeps its architecture and codec: options that would change them are refused. A text base grows its
vocabulary by the characters of DATA it never saw (see CharCodec.with_chars), and its embedding and output layer
grow with it: the new rows start from the existing rows' mean, so a new character starts rare but possible.
Training settings resolve as for any run; the optimiser state and the step count start afresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seqgen import checkpoint, domains
from seqgen.catalog import CARD
from seqgen.codecs import Codec
from seqgen.config import MODEL_OPTIONS, ModelConfig, Settings
from seqgen.domains.base import Inputs
from seqgen.errors import SeqgenError
from seqgen.models import SequenceModel

SHOWN_ADDED = 20  # new tokens a note names before it says "..."


@dataclass
class Base:
    """The checkpoint a fine-tune starts from: its folder, config, best weights and codec."""

    folder: Path
    config: dict[str, Any]
    net: SequenceModel
    codec: Codec


def load_base(folder: Path) -> Base:
    """The base checkpoint in `folder`, on the CPU (the trainer moves the new model where it trains)."""
    config, net, codec = checkpoint.load(folder, "cpu")
    return Base(folder, config, net, codec)


def check_options(options: Mapping[str, Any], base: Base, *, sentences: bool) -> None:
    """Refuse options that would change the base's architecture (a value other than the base's) or its codec
    (any codec option, and --sentences: the base's codec decides how text is cut)."""
    given = {k: v for k, v in options.items() if v is not None}
    architecture = base.net.config.to_dict()
    clash = [o.flag for o in MODEL_OPTIONS if o.name in given and given[o.name] != architecture[o.name]]
    if clash:
        raise SeqgenError(f"--from keeps the base model's architecture; drop {', '.join(clash)}")
    codec_flags = {o.flag: None for d in domains.DOMAINS.values() for o in d.options
                   if o.role == "codec" and o.name in given}
    if sentences:
        codec_flags["--sentences"] = None
    if codec_flags:
        raise SeqgenError(f"--from keeps the base model's codec; drop {', '.join(codec_flags)}")


def check_domain(found: Inputs, data: Sequence[str | Path], base: Base) -> None:
    """DATA must be of the base's domain: its codec could not read anything else."""
    if found.domain != base.codec.domain:
        raise SeqgenError(f"{', '.join(map(str, data))}: is {found.domain}, but --from {base.folder} is a "
                          f"{base.codec.domain} model")


def with_base_architecture(settings: Settings, base: Base) -> Settings:
    """The run's settings with the base's architecture in place of the resolved one (its vocabulary size comes
    from the data, as for a new model), each architecture setting's source recorded as "base"."""
    model = replace(ModelConfig.from_dict(base.net.config.to_dict()), vocab_size=0)
    sources = {**settings.sources, **{o.name: "base" for o in MODEL_OPTIONS}}
    return replace(settings, model=model, sources=sources)


def grown_model(net: SequenceModel, vocab_size: int) -> SequenceModel:
    """A trainable copy of `net` over `vocab_size` (at least its own) tokens, the new ones appended.

    A new token's embedding row (one-hot input: its input column of the first recurrent layer) is the mean of the
    existing ones, and its output row the mean of the existing output rows with the lowest existing bias, so it
    starts as an average token that the model rarely predicts, but can (with tied weights the shared rows are
    the embedding's). Every existing weight is the base's."""
    extra = vocab_size - net.config.vocab_size
    if extra < 0:
        raise ValueError(f"cannot shrink a vocabulary of {net.config.vocab_size} to {vocab_size}")
    one_hot = net.config.embed == 0
    model = checkpoint.build_model(replace(net.config, vocab_size=vocab_size))
    model.load_state_dict({name: _grown(name, t, extra, one_hot) for name, t in net.state_dict().items()})
    return model


def _grown(name: str, t: Tensor, extra: int, one_hot: bool) -> Tensor:
    """One weight of a SequenceModel with rows (or input columns) for `extra` new tokens appended."""
    if extra == 0:
        return t
    with torch.no_grad():
        if name == "decoder.bias":  # [vocab]
            return torch.cat([t, t.min().expand(extra)])
        if name in ("embedding.weight", "decoder.weight"):  # [vocab, embed] or [vocab, hidden]
            return torch.cat([t, t.mean(0, keepdim=True).expand(extra, -1)])
        if one_hot and name == "rnn.weight_ih_l0":  # [gates * hidden, vocab]: one column per input token
            return torch.cat([t, t.mean(1, keepdim=True).expand(-1, extra)], dim=1)
    return t


def added_tokens(base: Base, codec: Codec) -> list[str]:
    """The tokens the data's codec has beyond the base's (a text base's new characters), in id order."""
    return [codec.token_name(i) for i in range(base.codec.vocab_size, codec.vocab_size)]


def added_note(added: Sequence[str]) -> str:
    """The note that tells the user which characters joined the vocabulary."""
    shown = ", ".join(map(repr, added[:SHOWN_ADDED])) + (", ..." if len(added) > SHOWN_ADDED else "")
    return f"--from: added {len(added)} character{'s' if len(added) != 1 else ''} the base never saw: {shown}"


def origin(base: Base, added: Sequence[str]) -> dict[str, Any]:
    """config.json's "from": where the run started, the base's best validation loss, the base's model card
    (if one lies beside its files) and the tokens added to its vocabulary."""
    card = base.folder / CARD  # a shipped model's card, which the fine-tune's config points to
    return {"path": str(base.folder.resolve()), "best_val_loss": base.config["progress"].get("best_val_loss"),
            "model_card": str(card.resolve()) if card.is_file() else None, "added_tokens": list(added)}
