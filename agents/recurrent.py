"""PPO with a recurrent (LSTM) torso, for partially observed tasks.

The network carries an LSTM state per env from step to step, zeroed where an episode
starts (`tl.ResettableLSTM` reads a `reset` flag per step). Acting goes through the same
`networks.Policy` contract as every feed-forward agent, so the shared rollout,
evaluation, trainer and host loop serve it unchanged; what is recurrent-specific lives
here, after Pleines et al. 2022 "Memory Gym" / CleanRL's `ppo_atari_lstm.py`:

1. `lstm_policy`: one step runs the network on a length-1 sequence; its carry is the
   LSTM state. The rollout computes V(final_obs) in the step, from the LSTM state that
   saw the episode, so truncated episodes bootstrap correctly.
2. The learner replays whole rollouts: minibatches are sets of ENVS (sequences
   `[b, T, ...]`), re-run from the LSTM state the rollout started with (truncated BPTT
   over `num_steps`).
3. Everything else (GAE, clipped losses, Adam, annealing) is ppo.py's config and losses.
"""

import jax
from jax import numpy as jnp

import trax_rl.layers as tl
from trax_rl import shapes
from trax_rl import train_state as ts
from trax_rl.agents import advantages as adv
from trax_rl.agents import networks
from trax_rl.agents import ppo
from trax_rl.agents import training
from trax_rl.agents import updates


def LSTMPolicyAndValue(action_space, n_units=64):  # pylint: disable=invalid-name
    """`(obs [B, T, ...], resets [B, T], carry [B, 2H]) -> (policy [B, T, .], value [B, T], carry)`."""
    return tl.Serial(
        tl.Parallel(networks.MLPTorso((n_units,)), None, None),  # (x, resets, carry)
        tl.ResettableLSTM(n_units),                         # (ys, carry)
        tl.Branch(networks.PolicyHead(action_space), networks.ValueHead()),  # (pi, v, carry)
        name="LSTMPolicyAndValue")


def _signature(obs_space, n_units):
    obs = shapes.ShapeDtype((1, 1) + tuple(obs_space.shape), obs_space.dtype)
    return obs, shapes.ShapeDtype((1, 1), jnp.bool_), shapes.ShapeDtype((1, 2 * n_units))


def make_sequence_apply(network, action_space, obs_space, n_units):
    """`apply(params, obs [B, T, ...], resets [B, T], lstm [B, 2H]) -> (dist, value, lstm)`."""
    _, state = jax.eval_shape(lambda: network.init_with_signature(
        _signature(obs_space, n_units), jax.random.PRNGKey(0)))

    def apply(params, obs, resets, lstm):
        (policy_output, value, lstm), _ = network.pure_fn((obs, resets, lstm), params, state)
        return networks.distribution(action_space, policy_output), value, lstm

    return apply


def lstm_policy(sequence_apply, n_units):
    """The `networks.Policy` of an LSTM network: one step is a length-1 sequence."""

    def act(params, obs, lstm, reset):
        dist, value, lstm = sequence_apply(params, obs[:, None], reset[:, None], lstm)
        return jax.tree.map(lambda x: x[:, 0], dist), value[:, 0], lstm

    return networks.Policy(act, lambda batch: jnp.zeros((batch, 2 * n_units)), recurrent=True)


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


def make_learner(config, action_space, obs_space, n_units=64):
    """A `training.Learner` for recurrent PPO (config: `ppo.PPOConfig`)."""
    config.validate()
    if config.num_envs % config.num_minibatches:
        raise ValueError(f"recurrent PPO splits envs into minibatches: num_minibatches="
                         f"{config.num_minibatches} must divide num_envs={config.num_envs}")
    network = LSTMPolicyAndValue(action_space, n_units)
    optimizer = training.make_optimizer(config, config.update_epochs * config.num_minibatches)
    apply = make_sequence_apply(network, action_space, obs_space, n_units)
    signature = _signature(obs_space, n_units)
    init_params = networks.map_when_vmapped(
        lambda key: network.init_with_signature(signature, key)[0])

    def init(key):
        return ts.create(init_params(key), optimizer, key)

    def learn(state, transitions, key):
        discounts, continues = updates.episode_masks(transitions, config.gamma)
        advantages = adv.batched(adv.gae)(transitions.reward, transitions.value,
                                          transitions.next_value, discounts, continues,
                                          config.gae_lambda)
        targets = advantages + transitions.value
        # Env-major sequences (B, T, ...) and the rollout's first LSTM state (B, 2H): every
        # leaf leads with the env axis, so minibatches are sets of whole env sequences.
        sequences = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1),
                                 (transitions._replace(carry=(), final_obs=()), advantages,
                                  targets))
        batch = (sequences[0], transitions.carry[0], sequences[1], sequences[2])
        loss_fn = lambda params, minibatch: _loss(params, apply, minibatch, config)  # noqa: E731
        state, metrics = jax.lax.scan(
            lambda s, k: updates.update_epoch(s, batch, k, loss_fn, optimizer,
                                              config.num_minibatches),
            state, jax.random.split(key, config.update_epochs))
        return state, updates.learn_metrics(metrics, transitions.value, targets)

    return training.Learner(init, learn, lambda state: state.params,
                            lstm_policy(apply, n_units))


def make_train(config, env, env_params, n_units=64):
    """`train(key) -> (runner_state, metrics)`: a whole recurrent PPO run, pure."""
    learner = make_learner(config, env.action_space(env_params),
                           env.observation_space(env_params), n_units)
    return training.make_train_fn(training.make_trainer(learner, config, env, env_params))
