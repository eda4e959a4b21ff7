"""Policy/value networks: a torso from `trax_rl.layers` plus policy and value heads.

A network maps observations `[B, ...]` to `(policy_output, value)`:

    Serial(torso, Branch(PolicyHead, ValueHead))                    # shared torso
    Branch(Serial(torso, PolicyHead), Serial(torso, ValueHead))     # separate torsos

`policy_output` is logits `[B, A]` for `Discrete` actions, and `[B, 2D]` (mean, log-std)
for `Box` actions; `distribution` turns it into a `Categorical` or `Gaussian`.
Initialization follows the PPO literature (Engstrom et al. 2020; Huang et al. 2022,
"The 37 implementation details of PPO"): orthogonal weights with gain sqrt(2) in the
torso, 0.01 in the policy head, 1 in the value head, and zero biases.
"""

import math

from jax import numpy as jnp

import trax_rl.layers as tl
from trax_rl.agents import distributions
from trax_rl.envs import spaces

TORSOS = ("mlp", "transformer")


def _dense(n_units, gain):
    return tl.Dense(n_units, kernel_initializer=tl.OrthogonalInitializer(gain),
                    bias_initializer=tl.ZerosInitializer())


def MLP(hidden_sizes=(64, 64), activation=tl.Tanh):  # pylint: disable=invalid-name
    """A multilayer perceptron torso."""
    layers = []
    for n in hidden_sizes:
        layers += [_dense(n, math.sqrt(2)), activation()]
    return tl.Serial(layers, name="MLP")


def Transformer(d_model=64, n_heads=2, n_layers=1, d_ff=128):  # pylint: disable=invalid-name
    """A causal Transformer torso over a window of observations `[B, K, obs]`.

    The output is the last position's features `[B, d_model]`: it has attended to the
    whole window (see `rollout.ObservationWindow`, which keeps the window).
    """
    blocks = []
    for _ in range(n_layers):
        blocks += [
            tl.Residual(tl.LayerNorm(), tl.CausalAttention(d_model, n_heads=n_heads)),
            tl.Residual(tl.LayerNorm(), _dense(d_ff, math.sqrt(2)), tl.Relu(),
                        _dense(d_model, 1.0)),
        ]
    return tl.Serial(
        _dense(d_model, 1.0),                       # (B, K, d_model)
        tl.PositionalEncoding(max_len=1024),
        blocks,
        tl.LayerNorm(),
        tl.Fn("LastPosition", lambda x: x[:, -1]),  # (B, d_model)
        name="TransformerTorso")


class AppendLogStd(tl.Layer):
    """Appends a state-independent, learned log-std to a Gaussian mean: `[.., D] -> [.., 2D]`."""

    def __init__(self, init_value=0.0):
        super().__init__(name="AppendLogStd")
        self._init_value = init_value

    def forward(self, mean, weights):
        log_std = jnp.broadcast_to(weights["log_std"], mean.shape)
        return jnp.concatenate([mean, log_std], axis=-1)

    def init_weights_and_state(self, input_signature, rng):
        del rng
        return {"log_std": jnp.full(input_signature.shape[-1:], self._init_value)}, ()


def PolicyHead(action_space):  # pylint: disable=invalid-name
    if isinstance(action_space, spaces.Discrete):
        return _dense(action_space.n, 0.01)
    if isinstance(action_space, spaces.Box):
        if len(action_space.shape) != 1:
            raise ValueError(f"Box actions must be 1-D, got shape {action_space.shape}")
        return tl.Serial(_dense(action_space.shape[0], 0.01), AppendLogStd(), name="GaussianHead")
    raise ValueError(f"action space must be Discrete or Box, got {action_space!r}")


def ValueHead():  # pylint: disable=invalid-name
    return tl.Serial(_dense(1, 1.0), tl.Fn("Squeeze", lambda v: v[..., 0]), name="ValueHead")


def PolicyAndValue(action_space, torso="mlp", shared_torso=False, hidden_sizes=(64, 64),
                   **torso_kwargs):  # pylint: disable=invalid-name
    """The default actor-critic network for `action_space`.

    Args:
        torso: 'mlp' or 'transformer', or a function returning a fresh torso layer.
        shared_torso: one torso feeding both heads, or one torso per head (CleanRL's
            default for classic control, which learns faster there).
    """
    if callable(torso):
        make_torso = torso
    elif torso == "mlp":
        make_torso = lambda: MLP(hidden_sizes, **torso_kwargs)  # noqa: E731
    elif torso == "transformer":
        make_torso = lambda: Transformer(**torso_kwargs)  # noqa: E731
    else:
        raise ValueError(f"torso must be one of {TORSOS} or a callable, got {torso!r}")
    if shared_torso:
        return tl.Serial(make_torso(), tl.Branch(PolicyHead(action_space), ValueHead()),
                         name="PolicyAndValue")
    return tl.Branch(tl.Serial(make_torso(), PolicyHead(action_space)),
                     tl.Serial(make_torso(), ValueHead()), name="PolicyAndValue")


def distribution(action_space, policy_output):
    """The action distribution parameterized by a policy head's output."""
    if isinstance(action_space, spaces.Discrete):
        return distributions.Categorical(policy_output)
    mean, log_std = jnp.split(policy_output, 2, axis=-1)
    return distributions.Gaussian(mean, log_std)


def make_apply(network, action_space, state=(), obs_ndim=1):
    """Returns `apply(params, obs) -> (distribution, value)` for obs `[..., *obs_shape]`.

    Leading axes (`[B]`, `[T, B]`, ...) are flattened into one batch axis for the network
    and restored on its outputs, so torsos see `[N, *obs_shape]` whatever the caller's
    layout. `state` is the network's state from `init` (empty for the torsos here);
    RL networks run without dropout, so no rng is needed.
    """

    def apply(params, obs):
        lead = obs.shape[:obs.ndim - obs_ndim]
        flat = obs.reshape((-1,) + obs.shape[obs.ndim - obs_ndim:])  # (N, *obs_shape)
        (policy_output, value), _ = network.pure_fn(flat, params, state)
        policy_output = policy_output.reshape(lead + policy_output.shape[1:])
        return distribution(action_space, policy_output), value.reshape(lead)

    return apply
