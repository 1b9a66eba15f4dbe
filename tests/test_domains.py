"""The domain registry is the only place a domain is listed: nothing outside seqgen/domains/ and the codecs names
one, and every lookup (files, corpora, options, checkpoints) goes through the registry."""

from __future__ import annotations

import ast
import tokenize
from pathlib import Path

import pytest

from seqgen import domains
from seqgen.codecs.base import _REGISTRY
from seqgen.errors import SeqgenError

ROOT = Path(__file__).resolve().parent.parent
HOMES = (ROOT / "seqgen" / "domains", ROOT / "seqgen" / "codecs")


def _shared_sources() -> list[Path]:
    files = [p for folder in ("seqgen", "cli") for p in sorted((ROOT / folder).rglob("*.py"))]
    return [p for p in files if not any(home in p.parents for home in HOMES)]


def test_no_module_outside_the_domain_homes_and_codecs_names_a_domain():
    names = set(domains.DOMAINS)
    found = []
    for path in _shared_sources():
        with tokenize.open(path) as f:
            for tok in tokenize.generate_tokens(f.readline):
                if tok.type == tokenize.STRING and tok.string[:1] in "'\"":
                    value = ast.literal_eval(tok.string)
                    if isinstance(value, str) and value.lower() in names:
                        found.append(f"{path.relative_to(ROOT)}:{tok.start[0]}: {tok.string}")
    assert not found, "\n".join(found)
    assert len(_shared_sources()) > 20  # the scan saw the library and the CLI


def test_every_codec_has_a_registered_domain_and_every_domain_its_table_entry():
    assert {cls.domain for cls in _REGISTRY.values()} <= set(domains.DOMAINS)
    for name, home in domains.DOMAINS.items():
        assert home.name == name and domains.get(name) is home
    with pytest.raises(SeqgenError, match="unknown domain"):
        domains.get("smell")


def test_files_are_claimed_by_suffix_and_the_rest_is_the_fallback():
    assert domains.domain_for(Path("a/B.MID")).name == "music"
    assert domains.domain_for(Path("rec.hea")).name == "waveform"
    assert domains.domain_for(Path("notes.txt")) is domains.FALLBACK
    claimed = [s for home in domains.DOMAINS.values() for s in home.suffixes]
    assert len(claimed) == len(set(claimed))  # no file is claimed twice


def test_corpora_and_options_come_from_the_domains():
    assert {c.name for c in domains.CORPORA.values()} >= {"folk", "chorales", "folk-abc"}
    assert all(domains.get(c.domain) for c in domains.CORPORA.values())
    roles = {o.name: o.role for home in domains.DOMAINS.values() for o in home.options}
    assert {roles[k] for k in ("step_ms", "rate", "bits")} == {"codec"} and roles["gaps"] == "read"
    assert all(o.domain == home.name for home in domains.DOMAINS.values() for o in home.options)
