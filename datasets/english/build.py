"""Build the English prose corpus the shipped `english` model is trained on, from two openly licensed Debian packages
(install them first: `apt-get install debian-handbook wordnet-base`):

* The Debian Administrator's Handbook (package debian-handbook; GPL-2+ or CC-BY-SA-3.0): a book of modern
  English prose. Every paragraph and list item of its en-US HTML, one per line.
* WordNet 3.0 (package wordnet-base; the WordNet 3.0 licence, BSD-like): the definitions and example sentences of
  117,000 word senses ("sweet juicy gritty-textured fruit available in many varieties"; "they made a handsome
  pair"), the everyday vocabulary a technical book lacks. Each definition as "Lemma: definition." and each quoted
  example as a sentence of its own, one per line.

    python datasets/english/build.py english.txt
writes the corpus (11.3 MB of UTF-8 text, its lines in a fixed shuffled order) and prints how many lines came from
each source.
"""

from __future__ import annotations

import html
import random
import re
import sys
from pathlib import Path

HANDBOOK = Path("/usr/share/doc/debian-handbook/html/en-US")
WORDNET = Path("/usr/share/wordnet")
_SPACES = re.compile(r"\s+")
_SKIPPED = re.compile(r"<(pre|head|script|style|ul class=\"docnav\")\b.*?</\1>", re.DOTALL | re.IGNORECASE)
_BLOCK = re.compile(r"</?(div|p|li|h[1-6]|br|tr|td|dt|dd|table|ul|ol)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def handbook_lines() -> list[str]:
    """Every paragraph of the book's en-US HTML pages as a line: blocks of program text and screen output (<pre>)
    and the page furniture (<head>, navigation) left out, inline tags dropped (a command's name stays as its word),
    block tags as line ends; lines of 40 characters and more, so headings and captions drop out."""
    lines: list[str] = []
    for page in sorted(HANDBOOK.glob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        text = _SKIPPED.sub(" ", text)
        text = _BLOCK.sub("\n", text)
        text = html.unescape(_TAG.sub("", text))
        lines += [line for line in (_SPACES.sub(" ", raw).strip() for raw in text.split("\n")) if len(line) >= 40]
    return lines


def wordnet_lines() -> list[str]:
    lines: list[str] = []
    for part in ("noun", "verb", "adj", "adv"):
        for row in (WORDNET / f"data.{part}").read_text(encoding="utf-8", errors="replace").splitlines():
            if row.startswith("  ") or "|" not in row:  # the licence header
                continue
            lemma = row.split()[4].replace("_", " ").split("(")[0]
            gloss = row.split("|", 1)[1].strip()
            examples = re.findall(r'"([^"]+)"', gloss)
            definition = re.sub(r'"[^"]*"', "", gloss).strip(" ;")
            if definition:
                lines.append(f"{lemma[0].upper()}{lemma[1:]}: {definition}.")
            lines += [e[0].upper() + e[1:] + ("" if e[-1] in ".!?" else ".") for e in examples if len(e) > 10]
    return lines


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "english.txt")
    book, words = handbook_lines(), wordnet_lines()
    lines = book + words
    random.Random(0).shuffle(lines)  # both sources in every stretch, so the held-out tail is like the rest
    text = "\n".join(lines) + "\n"
    out.write_text(text, encoding="utf-8")
    print(f"{out}: {len(book):,} handbook paragraphs, {len(words):,} WordNet lines, {len(text):,} characters")


if __name__ == "__main__":
    main()
