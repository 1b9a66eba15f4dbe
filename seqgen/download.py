"""Download recipes for public datasets: where the files live, under what licence, and how each is verified.

Every file is checked against a SHA-256 before it takes its final name: a hash pinned in the recipe, or one
listed in the upstream manifest (PhysioNet's `SHA256SUMS.txt`, fetched first). Downloads stream into a
`.NAME.part` file beside the destination and are renamed into place only once verified, so an interrupted or
failed fetch leaves nothing half-written, and running it again skips the files already there.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seqgen.codecs import CharCodec, MuLawCodec
from seqgen.errors import SeqgenError
from seqgen.progress import Progress, ProgressFn

CHUNK = 1 << 18  # bytes read per network call (and per progress report)
TIMEOUT_S = 60.0  # a connection silent this long is given up on
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a recipe: its path under the base URL (and the destination), its pinned SHA-256 if the recipe
    carries one, and the record it belongs to (PhysioNet), so that `records=` can pick files."""

    path: str
    sha256: str | None = None
    record: str | None = None


@dataclass(frozen=True)
class Recipe:
    """A public dataset: what it is, under what licence, where its files are and how their hashes are known
    (pinned per file, or from `manifest`, an upstream `<sha256> <path>` list fetched first)."""

    name: str
    domain: str  # the name of the domain `seqgen train` makes of the files (see seqgen.domains)
    description: str
    licence: str
    homepage: str
    base_url: str
    files: tuple[RemoteFile, ...]
    size: str  # for people: roughly how much is downloaded
    manifest: str | None = None  # e.g. "SHA256SUMS.txt", relative to base_url
    channel: str | None = None  # waveforms: the signal name to train on, where every record has it

    @property
    def records(self) -> list[str]:
        """The record names `records=` accepts, in recipe order."""
        return list(dict.fromkeys(f.record for f in self.files if f.record))


@dataclass
class FetchResult:
    """What a fetch did: the destination folder, the files downloaded, those already present (verified), bytes."""

    folder: Path
    fetched: list[Path]
    present: list[Path]
    bytes: int

    @property
    def files(self) -> list[Path]:
        """Every file of the fetch now in the folder, downloaded or already there."""
        return sorted(self.fetched + self.present)


def _physionet(name: str, description: str, homepage: str, base_url: str, records: dict[str, tuple[str, ...]],
               size: str, channel: str | None) -> Recipe:
    """A PhysioNet database: per-record WFDB files, verified against the database's SHA256SUMS.txt."""
    files = tuple(RemoteFile(f"{record}.{suffix}", record=record) for record, suffixes in records.items()
                  for suffix in suffixes)
    return Recipe(name, MuLawCodec.domain, description, "Open Data Commons Attribution License v1.0 (ODC-By 1.0)",
                  homepage, base_url, files, size, manifest="SHA256SUMS.txt", channel=channel)


_MITDB = ("100 101 102 103 104 105 106 107 108 109 111 112 113 114 115 116 117 118 119 121 122 123 124 "
          "200 201 202 203 205 207 208 209 210 212 213 214 215 217 219 220 221 222 223 228 230 231 232 233 234")
_NSTDB_NOISY = [f"{base}e{snr}" for base in ("118", "119") for snr in ("00", "06", "12", "18", "24", "_6")]

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("tinyshakespeare", CharCodec.domain,
           "The works of Shakespeare concatenated into one text (karpathy/char-rnn), the classic character-level "
           "benchmark", "public domain", "https://github.com/karpathy/char-rnn",
           "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",
           (RemoteFile("input.txt", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"),),
           "1.1 MB (1,115,394 characters)"),
    _physionet("mitdb", "MIT-BIH Arrhythmia Database: 48 half-hour two-channel ambulatory ECG records "
               "(360 Hz, 11-bit) with beat annotations (.atr)", "https://physionet.org/content/mitdb/1.0.0/",
               "https://physionet.org/files/mitdb/1.0.0/", {r: ("hea", "dat", "atr") for r in _MITDB.split()},
               "about 95 MB", "MLII"),
    _physionet("nstdb", "MIT-BIH Noise Stress Test Database: the noise records bw (baseline wander), em "
               "(electrode motion) and ma (muscle artefact), and ECG records 118 and 119 with electrode-motion "
               "noise added at signal-to-noise ratios from 24 dB down to -6 dB (118e24 ... 118e_6)",
               "https://physionet.org/content/nstdb/1.0.0/", "https://physionet.org/files/nstdb/1.0.0/",
               {**{r: ("hea", "dat") for r in ("bw", "em", "ma")}, **{r: ("hea", "dat", "atr") for r in _NSTDB_NOISY}},
               "about 30 MB", "MLII"),
)}


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`, or a SeqgenError that lists the known ones."""
    if name not in RECIPES:
        raise SeqgenError(f"no download recipe named {name!r} (known: {', '.join(RECIPES)})")
    return RECIPES[name]


def fetch(recipe: Recipe, dest_dir: str | Path, base_url: str | None = None, progress: ProgressFn | None = None,
          records: Sequence[str] | None = None) -> FetchResult:
    """Download a recipe's files (or those of `records`) into `dest_dir`, each verified by SHA-256 before it takes
    its name; files already there with the right hash are kept, so a rerun resumes. `base_url` replaces the
    recipe's (a mirror, or a local server in tests). `progress` gets "download" events (`message`: the file,
    `step` of `total` bytes, 0 when unknown; `fraction`: files done) and "note" events."""
    report = progress or (lambda p: None)
    base = (base_url or recipe.base_url).rstrip("/") + "/"
    files = _chosen(recipe, records)
    folder = Path(dest_dir)
    new_dirs = [d for d in (folder, *folder.parents) if not d.exists()]  # removed again if the fetch fails
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SeqgenError(f"{folder}: cannot create the folder ({e.strerror})") from None
    try:
        return _fetch(recipe, files, folder, base, report)
    except BaseException:
        for d in new_dirs:
            with contextlib.suppress(OSError):  # a folder that is not empty stays
                d.rmdir()
        raise


def _fetch(recipe: Recipe, files: list[RemoteFile], folder: Path, base: str, report: ProgressFn) -> FetchResult:
    """fetch's work, once the destination folder exists."""
    done = 0
    expected = {f.path: f.sha256 for f in files}
    if recipe.manifest is not None:
        manifest = folder / recipe.manifest
        done += _download(base + recipe.manifest, manifest, None, report, 0.0)
        sums = _read_manifest(manifest)
        missing = [f.path for f in files if f.path not in sums]
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise SeqgenError(f"{base + recipe.manifest} does not list {shown}, so it cannot be verified; "
                              "is the base URL the right database and version?")
        expected = {f.path: sums[f.path] for f in files}
    unpinned = [path for path, sha in expected.items() if sha is None]
    if unpinned:
        raise SeqgenError(f"recipe {recipe.name}: {', '.join(unpinned)} has neither a pinned SHA-256 nor a manifest")
    fetched: list[Path] = []
    present: list[Path] = []
    for i, f in enumerate(files):
        target = folder / f.path
        if target.is_file() and _sha256(target) == expected[f.path]:
            present.append(target)
            continue
        done += _download(base + f.path, target, expected[f.path], report, i / len(files))
        fetched.append(target)
    if present:
        report(Progress("note", len(files), 1.0, message=f"{len(present)} of {len(files)} files were already in "
                                                           f"{folder} with the right SHA-256: kept"))
    return FetchResult(folder, fetched, present, done)


def train_command(recipe: Recipe, result: FetchResult) -> str:
    """The `seqgen train` command line for the fetched files, with `--channel` only where every record has it."""
    command = f"seqgen train {result.folder}"
    if recipe.channel is None:
        return command
    headers = sorted(result.folder.glob("*.hea"))  # what `seqgen train FOLDER` would read
    lacking = [p.stem for p in headers if recipe.channel not in _signal_names(p)]
    if not lacking:
        return f"{command} --channel {recipe.channel}"
    shown = ", ".join(lacking[:5]) + (", ..." if len(lacking) > 5 else "")
    return (f"{command}   (first channel of each record; --channel {recipe.channel} would stop at "
            f"{shown}, which {'has' if len(lacking) == 1 else 'have'} no {recipe.channel})")


def _chosen(recipe: Recipe, records: Sequence[str] | None) -> list[RemoteFile]:
    """The recipe's files, or only those of `records` (checked against the recipe's record names)."""
    if records is None:
        return list(recipe.files)
    known = recipe.records
    if not known:
        raise SeqgenError(f"{recipe.name} is not made of records; fetch it without --records")
    unknown = [r for r in records if r not in known]
    if unknown or not records:
        raise SeqgenError(f"{recipe.name} has no record {', '.join(unknown) or '(none given)'} "
                          f"(it has {', '.join(known)})")
    wanted = set(records)
    return [f for f in recipe.files if f.record in wanted]


def _download(url: str, target: Path, sha256: str | None, report: ProgressFn, fraction: float) -> int:
    """Stream `url` into `.NAME.part` beside `target`, check its SHA-256 (if given), rename it into place; bytes."""
    part = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    received = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, part.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            report(Progress("download", 0, fraction, message=target.name, total=total))
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                report(Progress("download", received, fraction, message=target.name, total=total))
        if total and received != total:
            raise SeqgenError(f"could not download {url}: the connection ended after {received:,} of {total:,} bytes")
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256:
            raise SeqgenError(f"{target.name}: checksum mismatch (expected SHA-256 {sha256}, got {actual}) "
                              f"from {url}; nothing was kept")
        os.replace(part, target)
    except urllib.error.HTTPError as e:
        part.unlink(missing_ok=True)
        raise SeqgenError(f"could not download {url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        part.unlink(missing_ok=True)
        raise SeqgenError(f"could not download {url}: {e.reason}") from None
    except (http.client.HTTPException, TimeoutError, ConnectionError) as e:
        part.unlink(missing_ok=True)
        raise SeqgenError(f"could not download {url}: {type(e).__name__} {e}".rstrip()) from None
    except OSError as e:
        part.unlink(missing_ok=True)
        raise SeqgenError(f"{target}: cannot write ({e.strerror})") from None
    except BaseException:  # a SeqgenError above, or Ctrl-C: nothing half-written stays
        part.unlink(missing_ok=True)
        raise
    return received


def _read_manifest(path: Path) -> dict[str, str]:
    """`<sha256> <relative path>` lines (sha256sum's format, `*` binary marks allowed) as path -> hash."""
    sums: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        words = line.strip().split(maxsplit=1)
        if not words:
            continue
        if len(words) != 2 or not _SHA256.match(words[0].lower()):
            raise SeqgenError(f"{path}: line {n} is not `<sha256> <path>`, so this is not a SHA256SUMS manifest")
        sums[words[1].lstrip("*").removeprefix("./")] = words[0].lower()
    return sums


def _sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _signal_names(header: Path) -> list[str]:
    """The signal names a WFDB header lists (none where it cannot be read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # wfdb's pandas deprecation warnings are not the user's
        import wfdb

        try:
            return list(wfdb.rdheader(str(header.with_suffix(""))).sig_name or [])
        except Exception:
            return []
