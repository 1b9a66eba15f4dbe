import math
import random

import torch

import seqgen
from seqgen.score import score_sequences


def test_total_is_the_sum_of_per_token_logprobs_and_matches_the_softmax(trained):
    m = seqgen.load(trained, device="cpu")
    text = "First Citizen:\nSpeak, speak."
    (s,) = m.score(text, precision="fp32")  # the exact path (auto may take bf16 on this machine)
    assert s.result.tokens == len(text)
    assert math.isclose(s.result.logprob, sum(s.result.token_logprobs), rel_tol=1e-9)
    ids = m.codec.start_ids + m.codec.encode(text)
    with torch.no_grad():
        logp = torch.log_softmax(m.net(torch.tensor([ids]))[0][0].double(), -1)
    direct = sum(logp[t, ids[t + 1]].item() for t in range(len(ids) - 1))
    assert math.isclose(s.result.logprob, direct, rel_tol=1e-5)
    d = s.to_dict(per_token=True)
    assert math.isclose(d["log10prob"], d["logprob"] / math.log(10))
    assert math.isclose(d["perplexity"], math.exp(-d["logprob"] / d["tokens"]))
    assert math.isclose(d["bits_per_token"], -d["logprob"] / d["tokens"] / math.log(2))
    assert d["token_texts"] == list(text)


def test_a_real_line_outscores_its_characters_shuffled(trained):
    m = seqgen.load(trained, device="cpu")
    lines = ["We are accounted poor citizens, the patricians good.",
             "What authority surfeits on would relieve us.",
             "Let us kill him, and we'll have corn at our own price."]
    rng = random.Random(0)
    shuffled = ["".join(rng.sample(line, len(line))) for line in lines]
    real, fake = m.score(lines), m.score(shuffled)
    for r, f in zip(real, fake, strict=True):
        assert r.result.logprob > f.result.logprob + 10


def test_batched_scoring_equals_scoring_one_at_a_time_and_chunking_is_exact(trained):
    m = seqgen.load(trained, device="cpu")
    texts = ["a", "To be", "Is this the way?", "MENENIUS:\nI tell you, friends, most charitable care"]
    together = m.score(texts, batch_size=64, precision="fp32")  # exact in fp32, whatever auto takes here
    for t, r in zip(texts, together, strict=True):
        alone = m.score([t], batch_size=1, precision="fp32")[0]
        assert math.isclose(r.result.logprob, alone.result.logprob, rel_tol=1e-5, abs_tol=1e-5)
    ids = [m.codec.encode(texts[-1])]
    whole = score_sequences(m.net, ids, m.codec.start_ids, chunk=4096)[0]
    chunked = score_sequences(m.net, ids, m.codec.start_ids, chunk=5)[0]
    assert math.isclose(whole.logprob, chunked.logprob, rel_tol=1e-5)


def test_unknown_characters_are_scored_as_unk_and_reported(trained):
    m = seqgen.load(trained, device="cpu")
    (s,) = m.score("Speak ☃")
    assert s.unknown_chars == ["☃"] and s.result.tokens == 7
    assert s.result.token_logprobs[-1] < -5  # <unk> never occurs in training


def test_sentence_models_score_the_end_of_sentence_and_stop_there(tmp_path, shakespeare):
    ckpt = tmp_path / "sentences"
    seqgen.train(shakespeare, ckpt, boundaries=True, cell="gru", layers=1, hidden=64, embed=16, batch_size=16,
                 seq_len=32, max_steps=60, eval_every=60, device="cpu")
    m = seqgen.load(ckpt, device="cpu")
    (s,) = m.score("Speak, speak.")
    assert s.result.tokens == len("Speak, speak.") + 1  # every character and the <eos>
    assert s.token_texts[-1] == "<eos>"
    samples = m.sample(num=4, length=400, seed=0)
    assert all("\n" not in t and "<" not in t for t in samples)  # one sentence each, no markers


def test_bf16_scoring_stays_close_to_fp32(trained):
    model = seqgen.load(trained, device="cpu")
    seqs = [model.codec.encode(t) for t in ("ROMEO:\nBut soft, what light", "KING HENRY", "a")]
    exact = score_sequences(model.net, seqs, model.codec.start_ids)
    fast = score_sequences(model.net, seqs, model.codec.start_ids, precision="bf16")
    for a, b in zip(exact, fast, strict=True):
        assert a.tokens == b.tokens
        assert abs(a.nll_per_token - b.nll_per_token) < 0.02 * a.nll_per_token + 1e-3


def test_entropies_are_those_of_the_predictive_distributions_and_windows_report_the_excess(trained):
    from seqgen.domains.waveform.anomaly import window_scores

    m = seqgen.load(trained, device="cpu")
    ids = m.codec.encode("First Citizen:\nSpeak, speak.")
    (plain,) = score_sequences(m.net, [ids], m.codec.start_ids)
    (r,) = score_sequences(m.net, [ids], m.codec.start_ids, entropies=True, chunk=5)
    assert plain.token_entropies == []
    assert all(math.isclose(a, b, abs_tol=1e-5) for a, b in zip(r.token_logprobs, plain.token_logprobs, strict=True))
    full = m.codec.start_ids + ids
    with torch.no_grad():
        logp = torch.log_softmax(m.net(torch.tensor([full]))[0][0].double(), -1)
    direct = (-(logp.exp() * logp).sum(-1))[: len(ids)].tolist()
    assert len(r.token_entropies) == len(ids)
    assert all(math.isclose(a, b, abs_tol=1e-4) for a, b in zip(r.token_entropies, direct, strict=True))

    lp = [-math.log(2) * b for b in (1, 1, 3, 3)]  # 1 and 3 bits
    ent = [math.log(2) * b for b in (2, 2, 2, 2)]  # 2 bits expected everywhere
    (w1, w2) = window_scores(torch.tensor(lp).numpy(), 2, 1.0, 2.5, torch.tensor(ent).numpy())
    assert math.isclose(w1.excess_bits, -1.0) and math.isclose(w2.excess_bits, 1.0)
    assert (w1.anomaly, w2.anomaly) == (False, True)
    assert w2.to_dict()["expected_bits"] == 2.0 and w2.to_dict()["excess_bits"] == 1.0
    (w,) = window_scores(torch.tensor(lp).numpy(), 4, 1.0, None)
    assert w.excess_bits is None and "excess_bits" not in w.to_dict()
