"""Minimal pairs: does a text model give the right sentence of each pair the higher probability?

Each pair differs in one thing a reader of English notices at once: a homophone spelt wrong, a verb that does
not agree with its subject, words in the wrong order, a misspelling. The model scores both sentences whole
(`Model.score`: with --sentences at training, from sentence start to sentence end) and gets the pair right when
the first has the higher log-probability. Prints each pair's two log-probabilities and the share right.

    python benchmarks/minimal_pairs.py -c english
"""

from __future__ import annotations

import argparse

import seqgen

PAIRS = [  # (right, wrong, what differs)
    ("The apple and pear salad", "The apple and pair salad", "homophone"),
    ("She bought a pair of shoes.", "She bought a pear of shoes.", "homophone"),
    ("They left their books at home.", "They left there books at home.", "homophone"),
    ("It is too late to go.", "It is to late to go.", "homophone"),
    ("The weather was cold.", "The whether was cold.", "homophone"),
    ("I know the answer.", "I no the answer.", "homophone"),
    ("The dogs are barking.", "The dogs is barking.", "agreement"),
    ("He writes a letter every day.", "He write a letter every day.", "agreement"),
    ("The children were playing outside.", "The children was playing outside.", "agreement"),
    ("This file contains the data.", "This file contain the data.", "agreement"),
    ("These programs are free software.", "These programs is free software.", "agreement"),
    ("The system does not start.", "The system do not start.", "agreement"),
    ("She quickly opened the door.", "She opened quickly door the.", "word order"),
    ("The user must log in first.", "The user log must in first.", "word order"),
    ("Install the package on the server.", "Install the on package the server.", "word order"),
    ("A small red house stood by the river.", "A red small house stood by the river.", "word order"),
    ("The computer was very slow.", "The computer was very slwo.", "spelling"),
    ("The government announced a new policy.", "The goverment announced a new policy.", "spelling"),
    ("We received the message yesterday.", "We recieved the message yesterday.", "spelling"),
    ("The configuration file is necessary.", "The configuration file is neccessary.", "spelling"),
    ("They argued about the definite result.", "They argued about the definate result.", "spelling"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--checkpoint", required=True, help="a text model (a folder or a shipped model's name)")
    model = seqgen.load(ap.parse_args().checkpoint, device="cpu")
    right = 0
    print("| kind | right sentence | logprob | wrong sentence | logprob | ok |")
    print("| --- | --- | --- | --- | --- | --- |")
    for good, bad, kind in PAIRS:
        a, b = (s.result.logprob for s in model.score([good, bad]))
        right += a > b
        print(f"| {kind} | {good} | {a:.2f} | {bad} | {b:.2f} | {'yes' if a > b else 'no'} |")
    print(f"\n{right} of {len(PAIRS)} pairs right ({right / len(PAIRS):.0%})")


if __name__ == "__main__":
    main()
