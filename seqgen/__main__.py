"""`python -m seqgen` runs the command line."""

from cli.main import main

main()
