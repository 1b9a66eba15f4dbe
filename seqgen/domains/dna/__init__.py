"""DNA: FASTA files (plain or gzip) as nucleotide tokens; samples are FASTA records, scores are per record and
per window of bases."""

from seqgen.domains.dna.domain import DNA

__all__ = ["DNA"]
