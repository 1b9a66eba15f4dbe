"""The models seqgen ships: found by name (`seqgen sample -c folk`), listed (`seqgen models`), checked against the
checksums recorded beside them, and packed from a trained checkpoint.

A shipped model is a checkpoint folder under checkpoints/ (installed as `seqgen.shipped`, so a wheel carries it)
with a MODEL_CARD.md: config.json and model.safetensors (weights in 16 bits), no trainer state. SHA256SUMS lists
every file's SHA-256; a shipped model whose files do not match is refused when loaded, so weights are data that
cannot change unnoticed.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError

SUMS = "SHA256SUMS"
CARD = "MODEL_CARD.md"
FILES = ("config.json", "model.safetensors", CARD)  # what a shipped model consists of


DEFAULT = "folk"  # the shipped model `sample` falls back on when nothing asks for another domain


def shipped_root() -> Path:
    """The folder of the shipped models (checkpoints/ of a checkout, seqgen/shipped/ of an installed wheel)."""
    return Path(importlib.import_module("seqgen.shipped").__path__[0])


def names(root: Path | None = None) -> list[str]:
    """The shipped models' names, sorted."""
    root = root or shipped_root()
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / CARD).is_file() and (p / FILES[0]).is_file()) \
        if root.is_dir() else []


def find(name: str, root: Path | None = None) -> Path | None:
    """The folder of the shipped model called `name`, checked against SHA256SUMS (a SeqgenError names the file that
    does not match); None when seqgen ships no model of that name."""
    root = root or shipped_root()
    if name not in names(root):
        return None
    problems = verify(name, root)
    if problems:
        raise SeqgenError(f"shipped model {name!r}: {problems[0]}; reinstall seqgen")
    return root / name


def fallback(domain: str | None = None, root: Path | None = None) -> str | None:
    """The shipped model to use when the user has none: DEFAULT, or with `domain` the shipped model of that domain
    (DEFAULT first where it is one, so music means folk rather than chorales, then by name); None when seqgen ships
    none that fits."""
    shipped = sorted(names(root), key=lambda name: name != DEFAULT)  # a stable sort: DEFAULT, then by name
    if domain is None:
        return DEFAULT if DEFAULT in shipped else None
    return next((n for n in shipped if describe(n, root)["domain"] == domain), None)


def checksums(root: Path | None = None) -> dict[str, str]:
    """SHA256SUMS as {"folk/model.safetensors": hex digest}."""
    path = (root or shipped_root()) / SUMS
    if not path.is_file():
        return {}
    pairs = (line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())
    return {file.strip(): digest for digest, file in pairs}


def verify(name: str, root: Path | None = None) -> list[str]:
    """What is wrong with a shipped model's files against SHA256SUMS: missing, unlisted or changed ones ([] if none)."""
    root = root or shipped_root()
    sums = checksums(root)
    problems = []
    for file in FILES:
        key, path = f"{name}/{file}", root / name / file
        if key not in sums:
            problems.append(f"{key} has no checksum in {SUMS}")
        elif not path.is_file():
            problems.append(f"{key} is missing")
        elif _sha256(path) != sums[key]:
            problems.append(f"{key} does not match its checksum")
    return problems


def describe(name: str, root: Path | None = None) -> dict[str, Any]:
    """A shipped model in brief, from its config.json and card: domain, architecture, validation loss, the card's
    title and summary line, and its size on disk."""
    folder = (root or shipped_root()) / name
    config = json.loads((folder / FILES[0]).read_text())
    card = (folder / CARD).read_text().splitlines()
    m = config["model"]
    return {"name": name, "domain": config.get("domain"), "path": str(folder),
            "model": f"{m['cell']} {m['layers']}x{m['hidden']}",
            "best_val_loss": config.get("progress", {}).get("best_val_loss"),
            "title": card[0].lstrip("# ").strip() if card else name,
            "summary": next((line.strip() for line in card[1:] if line.strip()), ""),
            "megabytes": round(sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 2**20, 2)}


def record_checksums(root: Path) -> None:
    """Rewrite SHA256SUMS for every shipped model under `root` (after a model is packed)."""
    lines = [f"{_sha256(root / name / file)}  {name}/{file}" for name in names(root) for file in FILES]
    (root / SUMS).write_text("\n".join(lines) + "\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pack(checkpoint: Path, name: str, card: str, root: Path | None = None) -> Path:
    """Write a trained checkpoint as the shipped model `name`: config.json, its best weights in float16 (half the
    size; measure the loss change before shipping) and `card` as MODEL_CARD.md; then SHA256SUMS again. The trainer
    state is left out (a shipped model is for sampling, scoring and `--from`, not for `--resume`)."""
    import torch
    from safetensors.torch import load_file, save_file

    from seqgen.checkpoint import CONFIG, WEIGHTS, is_checkpoint, write_file

    if not is_checkpoint(checkpoint):
        raise SeqgenError(f"{checkpoint}: not a checkpoint folder")
    root = root or shipped_root()
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    stored = load_file(checkpoint / WEIGHTS)
    weights = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in stored.items()}
    write_file(folder / WEIGHTS, lambda path: save_file(weights, str(path)))
    config = json.loads((checkpoint / CONFIG).read_text())
    config["shipped"] = {"name": name, "weights": "float16"}
    write_file(folder / CONFIG, lambda path: Path(path).write_text(json.dumps(config, indent=2) + "\n"))
    write_file(folder / CARD, lambda path: Path(path).write_text(card))
    record_checksums(root)
    return folder
