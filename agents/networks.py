"""Policy/value networks: a torso from the model zoo (`trax_rl.models`) plus policy and
value heads.

A network maps observations `[B, ...]` to `(policy_output, value)`:

    Serial(torso, Branch(PolicyHead, ValueHead))                    # shared torso
    Branch(Serial(torso, PolicyHead), Serial(torso, ValueHead))     # separate torsos

`policy_output` is logits `[B, A]` for `Discrete` actions, and `[B, 2D]` (mean, log-std)
for `Box` actions; `distribution` turns it into a `Categorical` or `Gaussian`.

This module also owns the helpers around networks: `init_params` (seed-vmappable
without batched LAPACK calls, see `map_when_vmapped`), `make_apply` (params and
observations to distribution and value), and `Policy`, the acting contract that one
rollout, one evaluation and one host loop share for feed-forward and recurrent networks.
Initialization follows the PPO literature (Engstrom et al. 2020; Huang et al. 2022,
"The 37 implementation details of PPO"): orthogonal weights with gain sqrt(2) in the
MLP torso, 0.01 in the policy head, 1 in the value head, and zero biases (the zoo's
Transformer and CNN torsos keep the zoo's initializers).
"""

import math
from typing import Callable, NamedTuple

import jax
from jax import numpy as jnp

import trax_rl.layers as tl
from trax_rl import shapes
from trax_rl.agents import distributions
from trax_rl.envs import spaces
from trax_rl.layers import models

TORSOS = ("mlp", "transformer", "cnn")


def _dense(n_units, gain):
    return tl.Dense(n_units, kernel_initializer=tl.OrthogonalInitializer(gain),
                    bias_initializer=tl.ZerosInitializer())


def MLPTorso(hidden_sizes=(64, 64), activation=tl.Tanh):  # pylint: disable=invalid-name
    """`models.MLP` with every layer activated and the PPO initialization: `[B, obs] -> [B, H]`.

    No `Flatten`: its (empty) weights would shift the key paths of checkpoints written
    before the torsos came from the zoo; the layer tree and weights are those of then.
    """
    return models.MLP(hidden_sizes, activation_fn=activation, out_activation=True,
                      flatten=False, kernel_initializer=tl.OrthogonalInitializer(math.sqrt(2)),
                      bias_initializer=tl.ZerosInitializer())


def TransformerTorso(d_model=64, n_heads=2, n_layers=1, d_ff=128,  # pylint: disable=invalid-name
                     max_len=1024):
    """`models.TransformerDecoder` over a window of observations `[B, K, obs]`.

    The output is the last position's features `[B, d_model]`: it has attended to the
    whole window (see `rollout.ObservationWindow`, which keeps the window). 'eval' mode:
    agent networks run without dropout (and so without state or dropout keys).
    """
    return tl.Serial(
        models.TransformerDecoder(None, d_model=d_model, d_ff=d_ff, n_layers=n_layers,
                                  n_heads=n_heads, dropout=0.0, max_len=max_len,
                                  mode="eval"),   # (B, K, d_model)
        tl.Fn("LastPosition", lambda x: x[:, -1]),  # (B, d_model)
        name="TransformerTorso")


def CnnTorso(hidden_sizes=(16, 32, 32), output_size=256):  # pylint: disable=invalid-name
    """`models.AtariCnn` on single frames: pixels `[B, H, W, C]` -> features `[B, output_size]`.

    Sized for MinAtar's 10x10 frames (Trax's Atari sizes are (32, 64, 64) and 512).
    AtariCnn reads bytes (it divides by 255): boolean channels (MinAtar's) become 0 or 255.
    Frames are not stacked here (`n_frames=1`); stack them in the env if needed.
    """
    def to_frames(x):
        x = jnp.where(x, 255, 0).astype(jnp.uint8) if x.dtype == jnp.bool_ else x
        return x[:, None]  # (B, 1, H, W, C): AtariCnn's time axis

    return tl.Serial(
        tl.Fn("ToFrames", to_frames),
        models.AtariCnn(n_frames=1, hidden_sizes=hidden_sizes, output_size=output_size),
        tl.Fn("LastFrame", lambda x: x[:, 0]),  # (B, output_size)
        name="CnnTorso")


_TORSO_FNS = {"mlp": MLPTorso, "transformer": TransformerTorso, "cnn": CnnTorso}


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
        torso: 'mlp', 'transformer' or 'cnn' (torsos from `trax_rl.models`), or a function
            returning a fresh torso layer.
        shared_torso: one torso feeding both heads, or one torso per head (CleanRL's
            default for classic control, which learns faster there).
    """
    if callable(torso):
        make_torso = torso
    elif torso == "mlp":
        make_torso = lambda: MLPTorso(hidden_sizes, **torso_kwargs)  # noqa: E731
    elif torso in _TORSO_FNS:
        make_torso = lambda: _TORSO_FNS[torso](**torso_kwargs)  # noqa: E731
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


def make_apply(network, action_space, obs_space=None, *, state=None, obs_ndim=None):
    """Returns `apply(params, obs) -> (distribution, value)` for obs `[..., *obs_shape]`.

    Leading axes (`[B]`, `[T, B]`, ...) are flattened into one batch axis for the network
    and restored on its outputs, so torsos see `[N, *obs_shape]` whatever the caller's
    layout. Give `obs_space` (the network's state is then found abstractly, and must be
    empty: RL networks run without dropout or batch statistics), or `state` and
    `obs_ndim` directly.
    """
    if obs_space is not None:
        state = network_state(network, obs_space) if state is None else state
        obs_ndim = len(obs_space.shape)
    elif state is None or obs_ndim is None:
        raise TypeError("make_apply needs obs_space, or both state and obs_ndim")

    def apply(params, obs):
        lead = obs.shape[:obs.ndim - obs_ndim]
        flat = obs.reshape((-1,) + obs.shape[obs.ndim - obs_ndim:])  # (N, *obs_shape)
        (policy_output, value), _ = network.pure_fn(flat, params, state)
        policy_output = policy_output.reshape(lead + policy_output.shape[1:])
        return distribution(action_space, policy_output), value.reshape(lead)

    return apply


class Policy(NamedTuple):
    """The acting contract: how rollouts, evaluations and host loops call any network.

    Attributes:
        apply: `(params, obs [B, ...], carry, reset [B]) -> (distribution, value [B],
            carry)` for one step of B envs; `reset` is True where `obs` starts an episode
            (a recurrent network zeroes its memory there).
        init_carry: `batch_size -> carry`, the memory before the first step: `()` for
            feed-forward networks, e.g. the LSTM state `[B, 2H]` for recurrent ones.
        recurrent: whether `carry` matters (a Python bool, static under jit).
    """

    apply: Callable
    init_carry: Callable
    recurrent: bool = False


def feed_forward_policy(apply):
    """The `Policy` of a memoryless `apply(params, obs) -> (distribution, value)`."""

    def act(params, obs, carry, reset):
        del reset
        dist, value = apply(params, obs)
        return dist, value, carry

    return Policy(act, lambda batch_size: (), recurrent=False)


def init_params(network, obs_space, key):
    """`network`'s params for observations from `obs_space`; pure and seed-vmappable."""
    return init_network(network, obs_space, key)[0]


def init_network(network, obs_space, key):
    """`(params, state)` of `network` for a batch of observations from `obs_space`; pure.

    Under `jax.vmap` (over seeds) the init runs seed by seed (see `map_when_vmapped`).
    """
    signature = shapes.ShapeDtype((1,) + tuple(obs_space.shape), obs_space.dtype)
    return map_when_vmapped(lambda key: network.init_with_signature(signature, key))(key)


def map_when_vmapped(fn):
    """`fn` whose batching rule is `lax.map`: vmapping it loops over the batch instead.

    Why: the orthogonal initializer calls LAPACK's QR, and `jax.vmap` turns that into one
    batched LAPACK call, which can deadlock the CPU runtime (jax 0.10.2: the batched
    `lapack_sgeqrf_ffi` waits forever in `ParallelBatchMap`, see shared/DATA.md). Looping
    keeps every LAPACK call unbatched and computes the same values; init runs once per
    run, so the loop costs nothing that matters.
    """
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, *args):
        del axis_size
        batched = [any(jax.tree.leaves(b)) for b in in_batched]

        def one(mapped):  # `fn` on one batch element; unbatched arguments as they are.
            it = iter(mapped)
            return wrapped(*(next(it) if b else a for a, b in zip(args, batched)))

        if not any(batched):
            out = one(())
            return out, jax.tree.map(lambda _: False, out)
        out = jax.lax.map(one, tuple(a for a, b in zip(args, batched) if b))
        return out, jax.tree.map(lambda _: True, out)

    return wrapped


def network_state(network, obs_space):
    """The state `network.pure_fn` needs, found abstractly (no weights are made).

    Agent networks are stateless (no BatchNorm statistics, no caches): their state is a
    tree of empty tuples, which is what is returned.
    """
    _, state = jax.eval_shape(lambda: init_network(network, obs_space, jax.random.PRNGKey(0)))
    if jax.tree.leaves(state):
        raise ValueError(f"agent networks must be stateless; {network.name} has state "
                         f"{jax.tree.map(lambda s: s.shape, state)}")
    return state


def network_for(env, env_params, torso="mlp", **kwargs):
    """The default actor-critic network for `env`'s action space."""
    return PolicyAndValue(env.action_space(env_params), torso=torso, **kwargs)
