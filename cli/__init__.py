"""The `seqgen` command line: thin click commands over the seqgen library."""
