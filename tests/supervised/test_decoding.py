"""Decoding: predict-mode logits equal full-sequence evaluation (language model and
encoder-decoder, prompts of different lengths), beam search with one beam is greedy,
EOS handling, and decoding past max_len is an error."""

import functools

import jax
import numpy as np
import pytest

from trax_rl import models
from trax_rl.shapes import ShapeDtype
from trax_rl.supervised import decoding

V, D = 13, 16
LM = dict(d_model=D, d_ff=32, n_layers=2, n_heads=2, max_len=16)
SEQ2SEQ = dict(d_model=D, d_ff=32, n_encoder_layers=1, n_decoder_layers=2, n_heads=2,
               max_len=16)


@functools.lru_cache(maxsize=None)  # One model pair (and its compiled steps) for all tests.
def _lm_pair():
    eval_model = models.TransformerLM(V, mode="eval", **LM)
    weights, _ = eval_model.init(ShapeDtype((1, 4), np.int32), rng=jax.random.PRNGKey(3))
    predict = models.TransformerLM(V, mode="predict", **LM)
    predict.init(ShapeDtype((1, 1), np.int32))
    predict.weights = weights
    return eval_model, predict


def test_language_model_decoding_logits_equal_full_sequence_logits():
    eval_model, predict = _lm_pair()
    prefix = [[3, 4, 5, 6], [7]]
    stream = decoding.autoregressive_sample_stream(predict, prefix=prefix, temperature=0.0,
                                                   return_logits=True)
    steps = [next(stream) for _ in range(5)]
    generated = np.stack([np.asarray(t) for t, _ in steps], 1)           # (B, 5)
    for b, row in enumerate(prefix):
        sequence = np.array([row + generated[b].tolist()])
        full, _ = jax.jit(eval_model.pure_fn)(sequence, eval_model.weights, eval_model.state)
        # Step k predicted token len(row) + k of the sequence.
        expected = np.asarray(full)[0, len(row):len(row) + 5]
        got = np.stack([np.asarray(logits)[b] for _, logits in steps])
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(generated[b], expected.argmax(-1))


def test_encoder_decoder_decoding_logits_equal_full_sequence_logits():
    eval_model = models.Transformer(V, mode="eval", **SEQ2SEQ)
    signature = (ShapeDtype((1, 5), np.int32), ShapeDtype((1, 3), np.int32))
    weights, _ = eval_model.init(signature, rng=jax.random.PRNGKey(4))
    predict = models.Transformer(V, mode="predict", **SEQ2SEQ)
    predict.init((signature[0], ShapeDtype((1, 1), np.int32)))
    predict.weights = weights
    inputs = np.array([[5, 6, 7, 8, 9], [4, 2, 0, 0, 0]])  # the second source is padded
    prefix = [[1], [2, 3, 4]]
    stream = decoding.autoregressive_sample_stream(predict, inputs=inputs, prefix=prefix,
                                                   temperature=0.0, return_logits=True)
    steps = [next(stream) for _ in range(4)]
    for b, row in enumerate(prefix):
        targets = np.array([row + [int(t[b]) for t, _ in steps]])
        (full, _), _ = jax.jit(eval_model.pure_fn)((inputs[b:b + 1], targets), weights,
                                                   eval_model.state)
        expected = np.asarray(full)[0, len(row):len(row) + 4]
        got = np.stack([np.asarray(logits)[b] for _, logits in steps])
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_beam_search_with_one_beam_is_greedy_and_beams_are_sorted():
    _, predict = _lm_pair()
    prefix = [[3, 4], [5, 6]]
    greedy = decoding.autoregressive_sample(predict, prefix=prefix, temperature=0.0,
                                            max_length=6)
    sequences, scores = decoding.beam_search(predict, prefix=prefix, beam_size=1, max_length=6)
    np.testing.assert_array_equal(sequences[:, 0], greedy)
    sequences, scores = decoding.beam_search(predict, prefix=prefix, beam_size=3, max_length=6)
    assert sequences.shape == (2, 3, 6)
    assert np.all(np.diff(scores, axis=1) <= 0)
    # The best of 3 beams scores at least as well as greedy's path.
    _, greedy_scores = decoding.beam_search(predict, prefix=prefix, beam_size=1, max_length=6)
    assert np.all(scores[:, 0] >= greedy_scores[:, 0] - 1e-5)


def test_eos_stops_and_pads_and_sampling_uses_the_rng():
    _, predict = _lm_pair()
    greedy = decoding.autoregressive_sample(predict, prefix=[[3]], temperature=0.0,
                                            max_length=8, eos_id=None)
    assert greedy.shape == (1, 8)
    # Trax's default: stop at EOS, id 1.
    np.testing.assert_array_equal(
        decoding.autoregressive_sample(predict, prefix=[[3]], temperature=0.0, max_length=8),
        decoding.autoregressive_sample(predict, prefix=[[3]], temperature=0.0, max_length=8,
                                       eos_id=1))
    eos = int(greedy[0, 2])
    stopped = decoding.autoregressive_sample(predict, prefix=[[3]], temperature=0.0,
                                             max_length=8, eos_id=eos)
    first = list(greedy[0]).index(eos)
    np.testing.assert_array_equal(stopped[0], greedy[0, :first + 1])
    a = decoding.autoregressive_sample(predict, batch_size=4, max_length=6,
                                       rng=jax.random.PRNGKey(1))
    b = decoding.autoregressive_sample(predict, batch_size=4, max_length=6,
                                       rng=jax.random.PRNGKey(2))
    assert a.shape == (4, 6) and not np.array_equal(a, b)


def test_decoding_past_max_len_raises():
    _, predict = _lm_pair()
    with pytest.raises(Exception, match="past max_len=16"):
        decoding.autoregressive_sample(predict, prefix=[[1] * 10], max_length=10, eos_id=None)
    with pytest.raises(ValueError, match="temperature"):
        decoding.autoregressive_sample(predict, temperature=-1.0)
