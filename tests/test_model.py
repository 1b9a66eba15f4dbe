import pytest
import torch

from seqgen.models import CELLS, ModelConfig, SequenceModel
from seqgen.stepper import Stepper


def test_rnn_relu_starts_from_identity_with_zero_biases():
    m = SequenceModel(ModelConfig(vocab_size=10, cell="rnn_relu", layers=2, hidden=16))
    for layer in range(2):
        assert torch.equal(getattr(m.rnn, f"weight_hh_l{layer}"), torch.eye(16))
        assert not getattr(m.rnn, f"bias_ih_l{layer}").any()
        assert not getattr(m.rnn, f"bias_hh_l{layer}").any()


def test_lstm_forget_gate_bias_starts_at_one():
    m = SequenceModel(ModelConfig(vocab_size=10, cell="lstm", layers=1, hidden=8))
    b = m.rnn.bias_ih_l0 + m.rnn.bias_hh_l0
    assert torch.equal(b[8:16], torch.ones(8)) and not b[:8].any() and not b[16:].any()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("embed,tie", [(16, False), (0, False), (8, True)])
def test_forward_shapes_and_stepper_matches_forward(cell, embed, tie):
    torch.manual_seed(0)
    m = SequenceModel(ModelConfig(vocab_size=11, cell=cell, layers=2, hidden=16, embed=embed, tie_weights=tie)).eval()
    x = torch.randint(0, 11, (3, 7))
    with torch.no_grad():
        full, _ = m(x)
        logits, state = m(x[:, :1])
        steps = [logits[:, 0]]
        stepper = Stepper(m)
        for t in range(1, 7):
            logits, state = stepper.step(x[:, t], state)
            steps.append(logits)
    assert full.shape == (3, 7, 11)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_int8_stepper_stays_close_to_the_exact_distribution(cell):
    """8-bit weights move the next-token distribution by a KL far below what sampling could notice."""
    torch.manual_seed(0)
    m = SequenceModel(ModelConfig(vocab_size=40, cell=cell, layers=3, hidden=96, embed=32)).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.0)  # sharper, less uniform distributions than at initialisation
        x = torch.randint(0, 40, (16, 25))
        _, state = m(x[:, :5])
        exact, fast = Stepper(m), Stepper(m, weights="int8")
        s_exact = s_fast = state
        for t in range(5, 25):
            a, s_exact = exact.step(x[:, t], s_exact)
            b, s_fast = fast.step(x[:, t], s_fast)
            la, lb = a.log_softmax(-1), b.log_softmax(-1)
            kl = (la.exp() * (la - lb)).sum(-1)
            assert kl.max() < 1e-3, (t, kl.max())
            assert (a - b).abs().max() < 0.1 * a.std()
    with pytest.raises(ValueError, match="weights must be"):
        Stepper(m, weights="int4")
    with pytest.raises(ValueError, match="ReLU RNN"):
        Stepper(SequenceModel(ModelConfig(vocab_size=5, cell="rnn_relu", hidden=8)), weights="int8")


def test_tied_weights_share_one_tensor_and_one_hot_has_no_embedding():
    tied = SequenceModel(ModelConfig(vocab_size=12, hidden=16, embed=8, tie_weights=True))
    assert tied.decoder.weight is tied.embedding.weight
    one_hot = SequenceModel(ModelConfig(vocab_size=12, hidden=16, embed=0))
    assert one_hot.embedding is None and one_hot.rnn.input_size == 12


@pytest.mark.parametrize("bad", [{"cell": "transformer"}, {"layers": 0}, {"dropout": 1.0},
                                 {"embed": 0, "tie_weights": True}])
def test_invalid_configs_are_rejected(bad):
    with pytest.raises(ValueError):
        ModelConfig(vocab_size=5, **bad)
