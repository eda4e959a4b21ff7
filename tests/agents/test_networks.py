"""Agent networks: torsos from the model zoo, their layouts, and old checkpoints."""

import math

import jax
import numpy as np
import pytest
from jax import numpy as jnp

import trax_rl.layers as tl
from trax_rl import checkpoint
from trax_rl import shapes
from trax_rl.agents import networks
from trax_rl.envs import spaces


def _dense(n, gain):
    return tl.Dense(n, kernel_initializer=tl.OrthogonalInitializer(gain),
                    bias_initializer=tl.ZerosInitializer())


def pre_zoo_mlp(hidden_sizes=(64, 64)):
    """The MLP torso as networks.py defined it before the torsos came from the zoo."""
    layers = []
    for n in hidden_sizes:
        layers += [_dense(n, math.sqrt(2)), tl.Tanh()]
    return tl.Serial(layers, name="MLP")


def pre_zoo_transformer(d_model=64, n_heads=2, d_ff=128):
    """The Transformer torso networks.py defined before the zoo (its checkpoints exist)."""
    return tl.Serial(
        _dense(d_model, 1.0), tl.PositionalEncoding(max_len=1024),
        tl.Residual(tl.LayerNorm(), tl.CausalAttention(d_model, n_heads=n_heads)),
        tl.Residual(tl.LayerNorm(), _dense(d_ff, math.sqrt(2)), tl.Relu(), _dense(d_model, 1.0)),
        tl.LayerNorm(), tl.Fn("LastPosition", lambda x: x[:, -1]))


def init(layer, shape, dtype=jnp.float32, seed=0):
    return layer.init_with_signature(shapes.ShapeDtype(shape, dtype), jax.random.PRNGKey(seed))


def key_paths(tree):
    return [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def test_mlp_torso_is_the_zoo_mlp_with_the_pre_zoo_layout_and_weights():
    torso = networks.MLPTorso((64, 64))
    assert torso.name == "MLP"  # trax_rl.models.MLP's Serial
    new, state = init(torso, (3, 4))
    old, _ = init(pre_zoo_mlp(), (3, 4))
    assert key_paths(new) == key_paths(old)
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old)):
        np.testing.assert_array_equal(a, b)
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 4))
    (w1, b1), _, (w2, b2), _ = new
    np.testing.assert_allclose(torso.pure_fn(x, new, state)[0],
                               np.tanh(np.tanh(x @ w1 + b1) @ w2 + b2), atol=1e-5)


def test_transformer_and_cnn_torsos_are_zoo_models():
    transformer = networks.TransformerTorso()
    assert transformer.sublayers[0].name == "TransformerDecoder"
    cnn = networks.CnnTorso()
    assert [layer.name for layer in cnn.sublayers] == ["ToFrames", "AtariCnn", "LastFrame"]


def test_transformer_torso_output_is_the_last_position_of_a_causal_decoder():
    torso = networks.TransformerTorso(d_model=16, n_heads=2, d_ff=32)
    weights, state = init(torso, (2, 5, 3))
    x = jax.random.normal(jax.random.PRNGKey(2), (2, 5, 3))
    y, _ = torso.pure_fn(x, weights, state)
    assert y.shape == (2, 16)
    # Causal: the last position sees the whole window; changing the first obs changes it.
    y2, _ = torso.pure_fn(x.at[:, 0].add(1.0), weights, state)
    assert not np.allclose(y, y2)


def test_cnn_torso_reads_boolean_channels_as_full_bytes():
    torso = networks.CnnTorso(hidden_sizes=(4, 8, 8), output_size=16)
    weights, state = init(torso, (2, 10, 10, 4), jnp.bool_)
    frames = jax.random.bernoulli(jax.random.PRNGKey(3), 0.3, (2, 10, 10, 4))
    y, _ = torso.pure_fn(frames, weights, state)
    as_bytes, _ = torso.pure_fn(frames.astype(jnp.uint8) * 255, weights, state)
    assert y.shape == (2, 16)
    np.testing.assert_array_equal(y, as_bytes)
    # Conv(4), Conv(8), Conv(8) with 5x5 kernels; 10 -> 5 -> 3 -> 2 pixels; Dense(16).
    n = sum(x.size for x in jax.tree.leaves(weights))
    assert n == (25 * 4 * 4 + 4) + (25 * 4 * 8 + 8) + (25 * 8 * 8 + 8) + (2 * 2 * 8 * 16 + 16)


def test_cnn_policy_and_value_on_pixel_observations():
    obs_space = spaces.Box(0, 1, (10, 10, 4), jnp.bool_)
    network = networks.PolicyAndValue(spaces.Discrete(6), torso="cnn")
    params = networks.init_params(network, obs_space, jax.random.PRNGKey(0))
    apply = networks.make_apply(network, spaces.Discrete(6), obs_space)
    dist, value = apply(params, jnp.zeros((7, 3, 10, 10, 4), jnp.bool_))  # [T, B, ...]
    assert dist.logits.shape == (7, 3, 6) and value.shape == (7, 3)


def test_unknown_torso_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"torso must be one of \('mlp', 'transformer', "
                                         r"'cnn'\) or a callable, got 'resnet'"):
        networks.PolicyAndValue(spaces.Discrete(2), torso="resnet")


def test_pre_zoo_transformer_checkpoint_gives_a_one_line_error(tmp_path):
    old, _ = init(pre_zoo_transformer(), (1, 8, 4))
    path = str(tmp_path / "old.ckpt")
    checkpoint.save(path, old)
    new = jax.eval_shape(lambda: init(networks.TransformerTorso(), (1, 8, 4))[0])
    with pytest.raises(checkpoint.CheckpointError, match="written for a different model") as e:
        checkpoint.restore(path, new)
    assert "\n" not in str(e.value)
