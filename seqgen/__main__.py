"""`python -m seqgen` runs the command line."""

from seqgen.cli.main import main

main()
