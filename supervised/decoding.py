"""Decoding from 'predict'-mode models: sampling, greedy decoding and beam search.

The model is built with `mode='predict'` and holds weights (`model.init(...)` or
`model.init_from_file(..., weights_only=True)`), as in Trax:

    model = trax_rl.models.TransformerLM(vocab_size, ..., mode="predict")
    model.init_from_file("model.ckpt", weights_only=True,
                         input_signature=ShapeDtype((1, 1), np.int32))
    tokens = decoding.autoregressive_sample(model, prefix=[[5, 7, 9]], temperature=0.0)

Decoding never re-encodes what it has seen: the prompt (a start token, `start_id`, then
the `prefix`) goes through the model in one call, then each new token in one jitted call
that reads and extends the layers' caches (keys/values, positions, recurrent carries).
Prompts may have different lengths: each batch row decodes from its own position (this
needs attention models; a recurrent carry would also run over the padding of a shorter
prompt).

Language models take token ids; encoder-decoder models (`Transformer`, `LSTMSeq2SeqAttn`)
take `(inputs, tokens)` and the first of their outputs is the logits.
"""

import functools

import jax
import numpy as np
from jax import numpy as jnp

from trax_rl import shapes
from trax_rl.layers import attention


def _prompts(prefix, batch_size, start_id):
    """Right-padded `[start_id] + prefix[b]` rows `(B, P)` and their lengths `(B,)`."""
    if prefix is None:
        return np.full((batch_size, 1), start_id, np.int32), np.ones(batch_size, np.int32)
    rows = [np.asarray(row, np.int64).tolist() for row in prefix]
    if len(rows) != batch_size:
        raise ValueError(f"prefix has {len(rows)} rows but batch_size={batch_size}")
    lengths = np.array([1 + len(r) for r in rows], np.int32)
    prompts = np.zeros((batch_size, lengths.max()), np.int32)
    for b, row in enumerate(rows):
        prompts[b, :lengths[b]] = [start_id] + row
    return prompts, lengths


def _model_call(model, weights, state, inputs, tokens):
    """One predict-mode call: `(logits (B, T, V), new_state)`."""
    x = tokens if inputs is None else (inputs, tokens)
    out, state = model.pure_fn(x, weights, state, None)
    return (out[0] if model.n_out > 1 else out), state


def _sample(logits, temperature, rng):
    if temperature == 0.0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    return jax.random.categorical(rng, logits / temperature, axis=-1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnums=(0, 5))
def _prefill(model, weights, state, inputs, prompts, temperature, lengths, rng):
    """Runs the whole prompt; row b's next-token logits are at its position lengths[b]-1."""
    logits, state = _model_call(model, weights, state, inputs, prompts)
    last = jnp.take_along_axis(logits, (lengths - 1)[:, None, None], axis=1)[:, 0]  # (B, V)
    state = attention.set_decoding_positions(state, lengths)
    return _sample(last, temperature, rng), last, state


@functools.partial(jax.jit, static_argnums=(0, 5))
def _step(model, weights, state, inputs, tokens, temperature, rng):
    """One token per row in, the next one out; the key is split here, not on the host."""
    rng, key = jax.random.split(rng)
    logits, state = _model_call(model, weights, state, inputs, tokens[:, None])
    return _sample(logits[:, -1], temperature, key), logits[:, -1], state, rng


def _initial_state(model, inputs, batch_size):
    """A fresh predict-mode state for `batch_size` rows: all zeros (empty caches, positions
    0, zero recurrent carries), built from the state's shapes without initializing weights."""
    tokens = shapes.ShapeDtype((batch_size, 1), np.int32)
    signature = tokens if inputs is None else (shapes.signature(inputs), tokens)
    _, state = jax.eval_shape(lambda: model.init_with_signature(signature,
                                                                jax.random.PRNGKey(0)))
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), state)


def _check_capacity(capacity, positions):
    """Raises before a step that would write past the model's caches (`(B,)` positions)."""
    if capacity is not None and int(np.max(positions)) > capacity:
        raise ValueError(f"decoding past max_len={capacity}: position {int(np.max(positions))} "
                         f"does not fit; build the model with a larger max_len or decode "
                         f"fewer tokens")


def _check_inputs(inputs, batch_size):
    if inputs is None:
        return None
    inputs = jnp.asarray(inputs)
    if inputs.ndim != 2 or inputs.shape[0] != batch_size:
        raise ValueError(f"inputs must be token ids of shape (batch_size={batch_size}, length), "
                         f"got shape {inputs.shape}")
    return inputs


def autoregressive_sample_stream(model, inputs=None, prefix=None, batch_size=1,
                                 temperature=1.0, rng=None, start_id=0, return_logits=False):
    """Yields the next token of every row, `(B,)` ints, one per step, without end.

    Args:
      model: a 'predict'-mode model with weights.
      inputs: source token ids `(B, T_in)` for an encoder-decoder model, else None.
      prefix: a prompt per row, a list of token-id lists of any lengths (or `(B, P)` ids).
      temperature: 0 for greedy (argmax) decoding, else sampling from `softmax(logits / t)`.
      rng: a JAX key for sampling (default `PRNGKey(0)`).
      start_id: the token every prompt starts with (Trax's 0).
      return_logits: yield `(tokens, logits (B, vocab))` instead of tokens.
    """
    if prefix is not None and inputs is None and batch_size == 1:
        batch_size = len(prefix)
    if inputs is not None:
        batch_size = np.shape(inputs)[0]
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    inputs = _check_inputs(inputs, batch_size)
    prompts, lengths = _prompts(prefix, batch_size, start_id)
    rng = jax.random.PRNGKey(0) if rng is None else rng
    weights, state = model.weights, _initial_state(model, inputs, batch_size)
    rng, key = jax.random.split(rng)
    positions, capacity = lengths.copy(), attention.decoding_capacity(model)
    _check_capacity(capacity, positions)
    tokens, logits, state = _prefill(model, weights, state, inputs, prompts,
                                     float(temperature), lengths, key)
    while True:
        yield (tokens, logits) if return_logits else tokens
        positions += 1
        _check_capacity(capacity, positions)
        tokens, logits, state, rng = _step(model, weights, state, inputs, tokens,
                                           float(temperature), rng)


def autoregressive_sample(model, inputs=None, prefix=None, batch_size=1, temperature=1.0,
                          max_length=100, eos_id=1, rng=None, start_id=0):
    """Returns `(B, n)` sampled token ids, `n <= max_length`; see the stream for arguments.

    Decoding stops once every row has produced `eos_id` (Trax's 1, the EOS of Trax's and
    our vocabularies), and a row's tokens after its `eos_id` are 0 (padding) where Trax
    keeps sampling them; `eos_id=None` always decodes `max_length` tokens.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    stream = autoregressive_sample_stream(model, inputs, prefix, batch_size, temperature,
                                          rng, start_id)
    result, done = [], None
    for tokens in stream:
        tokens = np.asarray(tokens)
        if eos_id is not None:
            done = np.zeros(tokens.shape, bool) if done is None else done
            tokens = np.where(done, 0, tokens)
            done = done | (tokens == eos_id)
        result.append(tokens)
        if len(result) >= max_length or (done is not None and done.all()):
            break
    return np.stack(result, axis=1)


@functools.partial(jax.jit, static_argnums=(0, 6, 7))
def _beam_step(model, weights, state, inputs, tokens, scores, beam_size, eos_id, finished):
    """Extends every beam by one token and keeps the best `beam_size` per example."""
    logits, state = _model_call(model, weights, state, inputs, tokens[:, None])
    log_probs = jax.nn.log_softmax(logits[:, -1])                     # (B*K, V)
    # A finished beam continues only with padding, at no cost.
    pad_only = jnp.full_like(log_probs, -jnp.inf).at[:, 0].set(0.0)
    log_probs = jnp.where(finished.reshape(-1)[:, None], pad_only, log_probs)
    batch, vocab = scores.shape[0], log_probs.shape[-1]
    candidates = scores[:, :, None] + log_probs.reshape(batch, beam_size, vocab)
    scores, flat = jax.lax.top_k(candidates.reshape(batch, -1), beam_size)  # (B, K)
    beams, tokens = flat // vocab, (flat % vocab).astype(jnp.int32)
    rows = (jnp.arange(batch)[:, None] * beam_size + beams).reshape(-1)
    state = attention.reorder_decoding_state(state, rows)
    finished = jnp.take_along_axis(finished, beams, axis=1)
    if eos_id is not None:
        finished = finished | (tokens == eos_id)
    return tokens.reshape(-1), scores, beams, finished, state


def beam_search(model, inputs=None, prefix=None, batch_size=1, beam_size=4,
                max_length=100, eos_id=1, start_id=0):
    """Returns `(sequences (B, K, n), log-probabilities (B, K))`, best beam first.

    Each example's prompt runs once; its cache is then copied to `beam_size` rows, which
    are reordered with the surviving beams after every step. A beam that emitted `eos_id`
    is finished: it keeps its score and continues with padding (0); `eos_id=None`
    never finishes a beam.
    """
    if beam_size < 1 or max_length < 1:
        raise ValueError(f"beam_size and max_length must be >= 1, got {beam_size}, {max_length}")
    if prefix is not None and inputs is None and batch_size == 1:
        batch_size = len(prefix)
    if inputs is not None:
        batch_size = np.shape(inputs)[0]
    inputs = _check_inputs(inputs, batch_size)
    prompts, lengths = _prompts(prefix, batch_size, start_id)
    weights, state = model.weights, _initial_state(model, inputs, batch_size)
    _check_capacity(attention.decoding_capacity(model), lengths)
    _, logits, state = _prefill(model, weights, state, inputs, prompts, 0.0, lengths,
                                jax.random.PRNGKey(0))
    scores, tokens = jax.lax.top_k(jax.nn.log_softmax(logits), beam_size)  # (B, K)
    rows = jnp.repeat(jnp.arange(batch_size), beam_size)
    state = attention.reorder_decoding_state(state, rows)
    if inputs is not None:
        inputs = jnp.take(inputs, rows, axis=0)
    tokens = tokens.astype(jnp.int32)
    finished = tokens == eos_id if eos_id is not None else jnp.zeros(tokens.shape, bool)
    sequences = np.asarray(tokens)[:, :, None]
    capacity = attention.decoding_capacity(model)
    while sequences.shape[-1] < max_length and not bool(finished.all()):
        _check_capacity(capacity, lengths + sequences.shape[-1])
        tokens, scores, beams, finished, state = _beam_step(
            model, weights, state, inputs, tokens.reshape(-1), scores, beam_size, eos_id,
            finished)
        sequences = np.take_along_axis(sequences, np.asarray(beams)[:, :, None], axis=1)
        sequences = np.concatenate([sequences, np.asarray(tokens).reshape(batch_size, -1, 1)],
                                   axis=-1)
    return sequences, np.asarray(scores)
