"""PPO with a recurrent (LSTM) torso, for partially observed tasks.

The network carries an LSTM state per env from step to step, zeroed where an episode
starts (`tl.ResettableLSTM` reads a `reset` flag per step). What changes from
feed-forward PPO (ppo.py), after Pleines et al. 2022 "Memory Gym" / CleanRL's
`ppo_atari_lstm.py`:

1. Rollouts carry `(obs, reset, lstm_state)`; each step runs the network on a length-1
   sequence. V(final_obs) is computed in the step, from the LSTM state that saw the
   episode, so truncated episodes bootstrap correctly.
2. The learner replays whole rollouts: minibatches are sets of ENVS (sequences
   `[b, T, ...]`), re-run from the LSTM state the rollout started with (truncated BPTT
   over `num_steps`).
3. Everything else (GAE, clipped losses, Adam, annealing) is ppo.py's config and losses.
"""

from typing import Any, NamedTuple

import jax
from jax import numpy as jnp

import trax_rl.layers as tl
from trax_rl import shapes
from trax_rl import train_state as ts
from trax_rl.agents import advantages as adv
from trax_rl.agents import networks
from trax_rl.agents import ppo
from trax_rl.agents import rollout
from trax_rl.agents import training
from trax_rl.agents import updates
from trax_rl.envs import wrappers


def LSTMPolicyAndValue(action_space, n_units=64):  # pylint: disable=invalid-name
    """`(obs [B, T, ...], resets [B, T], carry [B, 2H]) -> (policy [B, T, .], value [B, T], carry)`."""
    return tl.Serial(
        tl.Parallel(networks.MLP((n_units,)), None, None),  # (x, resets, carry)
        tl.ResettableLSTM(n_units),                         # (ys, carry)
        tl.Branch(networks.PolicyHead(action_space), networks.ValueHead()),  # (pi, v, carry)
        name="LSTMPolicyAndValue")


class Carry(NamedTuple):
    """What a recurrent rollout carries between steps, `[B, ...]`."""

    env_state: Any
    obs: jax.Array
    reset: jax.Array  # True where `obs` starts an episode.
    lstm: jax.Array   # (B, 2H)


class Transition(NamedTuple):
    """`[T, B, ...]`; like rollout.Transition, plus `reset` and V(final_obs)."""

    obs: jax.Array
    reset: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    next_value: jax.Array
    episode_return: jax.Array
    episode_length: jax.Array


def make_apply(network, action_space, state):
    """`apply(params, obs [B, T, ...], resets [B, T], lstm [B, 2H]) -> (dist, value, lstm)`."""

    def apply(params, obs, resets, lstm):
        (policy_output, value, lstm), _ = network.pure_fn((obs, resets, lstm), params, state)
        return networks.distribution(action_space, policy_output), value, lstm

    return apply


def collect_rollout(key, env, env_params, apply, params, carry, num_steps):
    """`num_steps` steps of the vectorized `env`; returns `(carry, Transition [T, B])`."""

    def step(carry, key):
        act_key, env_key = jax.random.split(key)
        dist, value, lstm = apply(params, carry.obs[:, None], carry.reset[:, None], carry.lstm)
        action = dist.sample(act_key)[:, 0]
        obs, env_state, reward, terminated, truncated, info = env.step(
            env_key, carry.env_state, action, env_params)
        no_reset = jnp.zeros_like(carry.reset)[:, None]
        _, next_value, _ = apply(params, info["final_obs"][:, None], no_reset, lstm)
        transition = Transition(
            carry.obs, carry.reset, action, dist.log_prob(action[:, None])[:, 0], value[:, 0],
            reward, terminated, truncated, next_value[:, 0], info["episode_return"],
            info["episode_length"])
        return Carry(env_state, obs, terminated | truncated, lstm), transition

    return jax.lax.scan(step, carry, jax.random.split(key, num_steps))


def _loss(params, apply, minibatch, config):
    """PPO's loss (ppo.ppo_loss) over env sequences `[b, T, ...]` replayed from `lstm0`."""
    transitions, lstm0, advantages, targets = minibatch

    def flat(x):
        return x.reshape((-1,) + x.shape[2:])  # (b, T, ...) -> (b * T, ...)

    def apply_flat(params, obs):
        dist, values, _ = apply(params, obs, transitions.reset, lstm0)
        return jax.tree.map(flat, dist), flat(values)

    batch = ppo.Batch(transitions.obs, flat(transitions.action), flat(transitions.log_prob),
                      flat(transitions.value), flat(advantages), flat(targets))
    return ppo.ppo_loss(params, apply_flat, batch, config)


def make_trainer(config, env, env_params, n_units=64):
    """A `training.Trainer` for recurrent PPO on the JAX `env` (config: `ppo.PPOConfig`)."""
    config.validate()
    if config.num_envs % config.num_minibatches:
        raise ValueError(f"recurrent PPO splits envs into minibatches: num_minibatches="
                         f"{config.num_minibatches} must divide num_envs={config.num_envs}")
    action_space, obs_space = env.action_space(env_params), env.observation_space(env_params)
    network = LSTMPolicyAndValue(action_space, n_units)
    optimizer = training.make_optimizer(config, config.update_epochs * config.num_minibatches)
    venv = wrappers.vectorize(env, config.num_envs)
    obs_sig = shapes.ShapeDtype((1, 1) + tuple(obs_space.shape), obs_space.dtype)
    signature = (obs_sig, shapes.ShapeDtype((1, 1), jnp.bool_),
                 shapes.ShapeDtype((1, 2 * n_units)))
    _, net_state = jax.eval_shape(
        lambda: network.init_with_signature(signature, jax.random.PRNGKey(0)))
    apply = make_apply(network, action_space, net_state)
    init_params = training.map_when_vmapped(
        lambda key: network.init_with_signature(signature, key))

    def init(key):
        env_key, net_key, rng = jax.random.split(key, 3)
        obs, env_state = venv.reset(env_key, env_params)
        params, _ = init_params(net_key)
        carry = Carry(env_state, obs, jnp.ones(config.num_envs, bool),
                      jnp.zeros((config.num_envs, 2 * n_units)))
        return training.RunnerState(ts.create(params, optimizer, net_key), carry, rng,
                                    jnp.zeros((), jnp.int32))

    def update(runner):
        rng, rollout_key, learn_key = jax.random.split(runner.rng, 3)
        state = runner.learner_state
        carry, transitions = collect_rollout(rollout_key, venv, env_params, apply, state.params,
                                             runner.env, config.num_steps)
        state, metrics = learn(state, runner.env.lstm, transitions, learn_key)
        env_steps = runner.env_steps + config.batch_size
        metrics = {**metrics, **rollout.episode_metrics(transitions),
                   "charts/env_steps": env_steps}
        return training.RunnerState(state, carry, rng, env_steps), metrics

    def learn(state, lstm0, transitions, key):
        discounts, continues = updates.episode_masks(transitions, config.gamma)
        advantages = adv.batched(adv.gae)(transitions.reward, transitions.value,
                                          transitions.next_value, discounts, continues,
                                          config.gae_lambda)
        targets = advantages + transitions.value
        # Env-major sequences (B, T, ...) and lstm0 (B, 2H): every leaf leads with the env
        # axis, so update_epoch's shuffled minibatches are sets of whole env sequences.
        sequences = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1),
                                 (transitions, advantages, targets))
        batch = (sequences[0], lstm0, sequences[1], sequences[2])
        loss_fn = lambda params, minibatch: _loss(params, apply, minibatch, config)  # noqa: E731
        state, metrics = jax.lax.scan(
            lambda s, k: updates.update_epoch(s, batch, k, loss_fn, optimizer,
                                              config.num_minibatches),
            state, jax.random.split(key, config.update_epochs))
        return state, updates.learn_metrics(metrics, transitions.value, targets)

    return training.Trainer(init, update, config.num_updates), apply


def evaluate(key, env, env_params, apply, params, num_episodes, n_units=64):
    """Deterministic returns of one episode in each of `num_episodes` envs (vectorized env)."""
    reset_key, step_key = jax.random.split(key)
    obs, env_state = env.reset(reset_key, env_params)

    def step(carry, key):
        env_state, obs, reset, lstm, returns, finished = carry
        dist, _, lstm = apply(params, obs[:, None], reset[:, None], lstm)
        obs, env_state, reward, terminated, truncated, _ = env.step(
            key, env_state, dist.mode()[:, 0], env_params)
        returns = returns + jnp.where(finished, 0.0, reward)
        done = terminated | truncated
        return (env_state, obs, done, lstm, returns, finished | done), None

    init = (env_state, obs, jnp.ones(num_episodes, bool), jnp.zeros((num_episodes, 2 * n_units)),
            jnp.zeros(num_episodes), jnp.zeros(num_episodes, bool))
    steps = jax.random.split(step_key, env_params.max_steps_in_episode)
    (_, _, _, _, returns, _), _ = jax.lax.scan(step, init, steps)
    return returns
