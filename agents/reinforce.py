"""REINFORCE with a learned value baseline (Williams 1992).

The learner is the one-step actor-critic learner it shares with A2C (`actor_critic`),
fed Monte Carlo returns instead of n-step/GAE advantages; this module owns the
returns (`monte_carlo_targets`) and the config.

Implementation details:

1. Returns G_t = Σ_k γ^k r_{t+k} to the end of the episode (`advantages.discounted_returns`,
   i.e. λ = 1; Williams 1992, §4; Sutton & Barto 2018, §13.3-13.4).
2. Rollouts are fixed-length `[T, B]` (one `lax.scan`, so one XLA program): an episode
   still running when the rollout ends is cut there, and its return bootstraps from
   V(final_obs) of the current critic, as a time-limit truncation does. With
   `num_steps` = 512 (longer than a CartPole-v1 episode) most returns are pure Monte
   Carlo; the critic only fills in the tail of episodes that straddle a rollout.
3. Baseline: A_t = G_t - V(s_t), normalized over the rollout (variance reduction,
   Sutton & Barto 2018, §13.4); V is a value head on the same network, trained by
   regression on G_t with weight `vf_coef` in the same loss.
4. One gradient step per rollout (the data are on-policy); Adam, no entropy bonus.
"""

import dataclasses
import functools

from trax_rl.agents import actor_critic
from trax_rl.agents import advantages as adv
from trax_rl.agents import training
from trax_rl.agents import updates

NAME = "reinforce"


@dataclasses.dataclass(frozen=True)
class ReinforceConfig(training.RolloutConfig):
    """REINFORCE hyperparameters (defaults: tuned on CartPole-v1)."""

    total_timesteps: int = 500_000
    """Environment steps over the whole run (all envs together)."""
    num_envs: int = 8
    """Parallel environments."""
    num_steps: int = 512
    """Steps per environment in each rollout; episodes still running at its end
    bootstrap from V."""
    learning_rate: float = 1e-2
    """Adam's learning rate (high: one step per 4096 samples, on normalized advantages)."""
    norm_adv: bool = True
    """Normalize the advantages G - V over each rollout."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value (baseline) loss coefficient."""


Config = ReinforceConfig


def monte_carlo_targets(apply, params, transitions, gamma):
    """`(G - V, G)` `[T, B]`: discounted returns to the episode's end and advantages.

    G bootstraps from V(final_obs) only where an episode was truncated or the rollout
    ends mid-episode (see `updates.bootstrap_streams`).
    """
    next_values, discounts, continues = updates.bootstrap_streams(
        apply, params, transitions, gamma)
    returns = adv.batched(adv.discounted_returns)(transitions.reward, next_values,
                                                  discounts, continues)
    return returns - transitions.value, returns


def make_learner(config, network, action_space, obs_space):
    targets_fn = functools.partial(monte_carlo_targets, gamma=config.gamma)
    return actor_critic.make_learner(config, network, action_space, obs_space, targets_fn)


def make_train(config, env, env_params, network=None):
    """`train(key) -> (runner_state, metrics)`: a whole REINFORCE run as one pure function."""
    return training.make_train(make_learner, config, env, env_params, network)
