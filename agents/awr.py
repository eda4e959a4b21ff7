"""Advantage-Weighted Regression, AWR (Peng et al. 2019, arXiv:1910.00177).

Owns the replay of recent rollouts (`Replay`, a ring buffer kept in the learner
state, so the whole run stays one jitted function), the AWR losses, and the learner.

Implementation details (Peng et al. 2019, Algorithm 1 and Appendix C; the authors'
code at github.com/xbpeng/awr):

1. Each iteration collects `num_envs * num_steps` samples (2048 in the paper) and adds
   them to a FIFO replay of the last `buffer_size` samples (50k in the paper). The
   replay stores whole rollouts `[T, B]` as ring-buffer slots, so every stored
   transition keeps its time order and TD(λ) can run over it.
2. Targets are recomputed over the whole replay with the current critic every time
   they are used: TD(λ) returns (`advantages.td_lambda`, λ = 0.95) that bootstrap from
   V(final_obs) where an episode was truncated or a stored rollout ends.
3. `value_steps` Adam steps (200 in the paper) of value regression on minibatches of
   `minibatch_size` (256) drawn uniformly from the replay; then targets and advantages
   A = G^λ - V are recomputed with the new critic.
4. `policy_steps` (1000) steps of weighted maximum likelihood, loss
   -mean(min(exp(Â/β), w_max) log π(a|s)) (eq. 9; β = 1, w_max = 20), where Â is A
   normalized over the replay (the authors' code does this; it makes β scale-free).
5. Separate optimizers for the two phases (the paper: SGD with momentum, step sizes
   1e-2 critic / 5e-5 actor, value targets normalized); we use Adam with 1e-3 / 1e-4,
   no value normalization, and no observation normalization.
6. Minibatches are drawn with replacement (the authors reshuffle the replay each pass);
   `Discrete` and `Box` actions both go through `networks.distribution`, with a learned
   state-independent log-std where the paper fixes the Gaussian's std.
"""

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
from jax import numpy as jnp

from trax_rl import train_state as ts
from trax_rl.agents import advantages as adv
from trax_rl.agents import losses
from trax_rl.agents import networks
from trax_rl.agents import training
from trax_rl.agents import updates

NAME = "awr"


@dataclasses.dataclass(frozen=True)
class AWRConfig(training.RolloutConfig):
    """AWR hyperparameters (defaults: the paper's, with Adam and CartPole-sized runs)."""

    total_timesteps: int = 200_000
    """Environment steps over the whole run (all envs together)."""
    num_envs: int = 16
    """Parallel environments."""
    num_steps: int = 128
    """Steps per environment in each rollout (num_envs * num_steps samples per iteration)."""
    learning_rate: float = 1e-4
    """Adam's learning rate for the policy steps."""
    value_learning_rate: float = 1e-3
    """Adam's learning rate for the value steps."""
    anneal_lr: bool = False
    """Decay both learning rates linearly to 0 over the run."""
    buffer_size: int = 50_000
    """Replay capacity in samples, rounded down to whole rollouts (at least one)."""
    td_lambda: float = 0.95
    """Lambda of the TD(lambda) value targets."""
    beta: float = 1.0
    """Temperature of the advantage weights exp(A / beta)."""
    max_weight: float = 20.0
    """Clip of the advantage weights (w_max)."""
    norm_adv: bool = True
    """Normalize advantages over the replay before weighting them."""
    value_steps: int = 200
    """Value regression steps per iteration."""
    policy_steps: int = 1000
    """Policy steps per iteration."""
    minibatch_size: int = 256
    """Samples per value or policy step, drawn uniformly from the replay."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient in the policy steps."""

    @property
    def num_slots(self):
        """Rollouts the replay holds."""
        return max(1, self.buffer_size // self.batch_size)

    def validate(self):
        super().validate()
        if not 0.0 <= self.td_lambda <= 1.0:
            raise ValueError(f"td_lambda must be in [0, 1], got {self.td_lambda}")
        for name in ("value_learning_rate", "beta", "max_weight", "value_steps",
                     "policy_steps", "minibatch_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        return self


Config = AWRConfig


class Replay(NamedTuple):
    """The last `num_slots` rollouts: every field but `count` is `[num_slots, T, B, ...]`.

    Slots fill in order 0, 1, ..., so the valid samples are always the first
    `min(count, num_slots)` slots; then the oldest slot is overwritten.
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array
    count: jax.Array  # int32, rollouts added so far

    @property
    def num_valid(self):
        """Valid samples: the leading `num_valid` rows of the flattened fields."""
        num_slots, steps, envs = self.reward.shape
        return jnp.minimum(self.count, num_slots) * steps * envs


def replay_init(num_slots, transitions):
    """An empty replay for rollouts shaped like `transitions` (arrays or ShapeDtypeStructs)."""
    fields = {name: jnp.zeros((num_slots,) + tuple(getattr(transitions, name).shape),
                              getattr(transitions, name).dtype)
              for name in Replay._fields if name != "count"}
    return Replay(**fields, count=jnp.zeros((), jnp.int32))


def replay_add(replay, transitions):
    """Writes the rollout `transitions [T, B, ...]` over the oldest slot."""
    slot = replay.count % replay.reward.shape[0]
    fields = {name: getattr(replay, name).at[slot].set(getattr(transitions, name))
              for name in Replay._fields if name != "count"}
    return Replay(**fields, count=replay.count + 1)


def replay_targets(apply, params, replay, gamma, lambda_):
    """`(values, targets)` `[num_slots, T, B]`: V(obs) and TD(λ) returns, current critic."""
    _, values = apply(params, replay.obs)
    next_values, discounts, continues = updates.bootstrap_streams(apply, params, replay, gamma)
    td = jax.vmap(adv.batched(adv.td_lambda), in_axes=(0, 0, 0, 0, None))
    return values, td(replay.reward, next_values, discounts, continues, lambda_)


def normalize_valid(x, num_valid, eps=1e-8):
    """`(x - mean) / (std + eps)` with the statistics of the leading `num_valid` rows."""
    valid = (jnp.arange(x.shape[0]) < num_valid).astype(x.dtype)
    count = jnp.maximum(jnp.sum(valid), 1.0)
    mean = jnp.sum(x * valid) / count
    std = jnp.sqrt(jnp.sum(valid * (x - mean) ** 2) / count)
    return (x - mean) / (std + eps)


def value_regression_loss(params, apply, batch):
    """L = ½ mean((V(s) - G^λ)²); `batch` is `(obs, target)`."""
    obs, targets = batch
    _, values = apply(params, obs)
    return losses.value_loss(values, targets)


def awr_loss(params, apply, batch, beta, max_weight, ent_coef):
    """L = -mean(min(exp(Â/β), w_max) · log π(a|s)) - ent_coef · mean(H[π(·|s)]).

    `batch` is `(obs, action, advantage)`; Peng et al. 2019, eq. (9).
    """
    obs, actions, advantages = batch
    dist, _ = apply(params, obs)
    pg_loss, pg_metrics = losses.awr_policy_loss(dist.log_prob(actions), advantages, beta,
                                                 max_weight)
    ent_loss, ent_metrics = losses.entropy_loss(dist.entropy())
    return pg_loss + ent_coef * ent_loss, {**pg_metrics, **ent_metrics}


def fit(params, opt_state, data, indices, loss_fn, optimizer):
    """One gradient step per row of `indices [steps, M]` on minibatches `data[row]`.

    `data` leaves are flat `[N, ...]`; returns `(params, opt_state, mean metrics)`.
    """

    def step(state, rows):
        batch = jax.tree.map(lambda x: x[rows], data)
        return ts.gradient_step(state, batch, loss_fn, optimizer)

    state = ts.TrainState(params, opt_state, jnp.zeros((), jnp.int32), None)
    state, metrics = jax.lax.scan(step, state, indices)
    return state.params, state.opt_state, updates.reduce_metrics(metrics)


class AWRState(NamedTuple):
    params: Any
    value_opt_state: Any
    policy_opt_state: Any
    replay: Replay


def make_learner(config, network, action_space, obs_space):
    config.validate()
    apply = networks.make_apply(network, action_space, obs_space)
    value_optimizer = training.make_optimizer(config, config.value_steps,
                                              config.value_learning_rate)
    policy_optimizer = training.make_optimizer(config, config.policy_steps)
    value_loss_fn = functools.partial(value_regression_loss, apply=apply)
    policy_loss_fn = functools.partial(awr_loss, apply=apply, beta=config.beta,
                                       max_weight=config.max_weight, ent_coef=config.ent_coef)
    flat = lambda x: x.reshape(-1, *x.shape[3:])  # noqa: E731  (S, T, B, ...) -> (S*T*B, ...)

    def init(key):
        params = networks.init_params(network, obs_space, key)
        obs = jnp.zeros((config.num_steps, config.num_envs) + tuple(obs_space.shape),
                        obs_space.dtype)
        actions = jax.eval_shape(lambda p: apply(p, obs)[0].sample(key), params)
        rollout_shapes = Replay(obs, actions, obs[..., 0], obs[..., 0] > 0, obs[..., 0] > 0,
                                obs, None)
        return AWRState(params, value_optimizer.init(params), policy_optimizer.init(params),
                        replay_init(config.num_slots, rollout_shapes))

    def learn(state, transitions, key):
        value_key, policy_key = jax.random.split(key)
        replay = replay_add(state.replay, transitions)
        draw = lambda k, n: jax.random.randint(  # noqa: E731
            k, (n, config.minibatch_size), 0, replay.num_valid)

        _, targets = replay_targets(apply, state.params, replay, config.gamma, config.td_lambda)
        params, value_opt_state, v_metrics = fit(
            state.params, state.value_opt_state, (flat(replay.obs), flat(targets)),
            draw(value_key, config.value_steps), lambda p, b: value_loss_fn(p, batch=b),
            value_optimizer)

        values, targets = replay_targets(apply, params, replay, config.gamma, config.td_lambda)
        advantages = flat(targets - values)
        if config.norm_adv:
            advantages = normalize_valid(advantages, replay.num_valid)
        params, policy_opt_state, p_metrics = fit(
            params, state.policy_opt_state, (flat(replay.obs), flat(replay.action), advantages),
            draw(policy_key, config.policy_steps), lambda p, b: policy_loss_fn(p, batch=b),
            policy_optimizer)

        newest = (replay.count - 1) % config.num_slots
        guard = {ts.NONFINITE: v_metrics.pop(ts.NONFINITE) + p_metrics.pop(ts.NONFINITE)}
        metrics = updates.learn_metrics({**v_metrics, **p_metrics, **guard}, transitions.value,
                                        targets[newest])
        metrics["charts/replay_size"] = replay.num_valid
        return AWRState(params, value_opt_state, policy_opt_state, replay), metrics

    return training.Learner(init, learn, lambda state: state.params,
                            networks.feed_forward_policy(apply))


def make_train(config, env, env_params, network=None):
    """`train(key) -> (runner_state, metrics)`: a whole AWR run as one pure function."""
    return training.make_train(make_learner, config, env, env_params, network)
