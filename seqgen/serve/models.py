"""The models a `seqgen serve` page offers: the shipped ones and the user's checkpoints (or those named with -c),
each with the views its domain gives it, loaded on first use and kept."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqgen import catalog, checkpoint, domains
from seqgen.serve.limits import RequestError

if TYPE_CHECKING:
    from seqgen.trained import Model


@dataclass(frozen=True)
class Entry:
    """One model on the page: its id (a shipped name or a folder), what the menu shows, and its views."""

    id: str
    label: str
    domain: str
    views: tuple[str, ...]
    shipped: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shipped(name: str) -> Entry:
    about = catalog.describe(name)
    title = about["title"]
    label = title if title.startswith(name) else f"{name}: {title}"
    return Entry(name, label, about["domain"], domains.get(about["domain"]).page_views, True)


def _folder(folder: Path) -> Entry:
    config = checkpoint.read_config(folder)
    domain = str(config.get("domain"))
    m = config.get("model", {})
    label = f"{folder}: {domain} {m.get('cell', '')} {m.get('layers', '')}x{m.get('hidden', '')}"
    return Entry(str(folder), label, domain, domains.get(domain).page_views, False)


def entries(given: Sequence[str] = (), root: Path = checkpoint.DEFAULT_ROOT) -> list[Entry]:
    """The models named in `given` (shipped names or checkpoint folders, as -c takes them); without any, every
    shipped model and then every checkpoint under `root` that is not a shipped one, newest first."""
    if given:
        return [_folder(Path(g)) if Path(g).exists() or g not in catalog.names() else _shipped(g) for g in given]
    shipped = catalog.names()
    mine = [p for p in root.iterdir() if p.is_dir() and p.name not in shipped and checkpoint.is_checkpoint(p)] \
        if root.is_dir() else []
    mine.sort(key=lambda p: (p / checkpoint.CONFIG).stat().st_mtime, reverse=True)
    return [_shipped(n) for n in shipped] + [_folder(p) for p in mine]


class Models:
    """The page's models by id; each loaded once, on first use (in the worker thread), then kept."""

    def __init__(self, listed: Sequence[Entry], device: str = "cpu"):
        self.listed = {e.id: e for e in listed}
        self.device = device
        self._loaded: dict[str, Model] = {}
        self._lock = threading.Lock()

    def entry(self, model_id: str, view: str) -> Entry:
        """The entry of `model_id`, which must offer `view`: a 404 for an unknown model, a 422 for a view it lacks."""
        entry = self.listed.get(model_id)
        if entry is None:
            known = ", ".join(self.listed) or "none"
            raise RequestError(f"unknown model {model_id!r} (this page serves: {known})", 404)
        if view not in entry.views:
            raise RequestError(f"{model_id} is a {entry.domain} model: it has no {view} view "
                               f"(it has: {', '.join(entry.views) or 'none'})", 422)
        return entry

    def load(self, model_id: str) -> Model:
        """The loaded model of a listed id."""
        import seqgen

        with self._lock:
            if model_id not in self._loaded:
                self._loaded[model_id] = seqgen.load(model_id, device=self.device)
            return self._loaded[model_id]
