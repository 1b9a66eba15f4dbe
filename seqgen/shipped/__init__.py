"""`seqgen.shipped` when running from a checkout: the models seqgen ships live in the top-level folder checkpoints/.

Installed seqgen (a wheel, or `pip install -e .`) maps `seqgen.shipped` to checkpoints/ through `package-dir` in
pyproject.toml (checkpoints/__init__.py takes this file's place), so a wheel carries the shipped models. Run from the
source tree, pointing this package's `__path__` at checkpoints/ finds them there (as seqgen/cli/__init__.py does for
the command line). seqgen.catalog reads them.
"""

from pathlib import Path

__path__ = [str(Path(__file__).resolve().parents[2] / "checkpoints")]
