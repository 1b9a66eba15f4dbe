"""`seqgen.cli` when running from a checkout: the command line's modules are in the top-level folder cli/.

Installed seqgen (a wheel, or `pip install -e .`) maps `seqgen.cli` to cli/ through `package-dir` in pyproject.toml, and
this file is not installed (cli/__init__.py takes its place). Run from the source tree (PYTHONPATH=., or pytest from
the repository root), Python finds this package instead, and pointing its `__path__` at cli/ makes `seqgen.cli.main`
the file cli/main.py, so there is never a top-level package called `cli`.
"""

from pathlib import Path

__path__ = [str(Path(__file__).resolve().parents[2] / "cli")]
