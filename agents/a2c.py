"""Synchronous advantage actor-critic, A2C (Mnih et al. 2016, arXiv:1602.01783).

Implementation details (after OpenAI Baselines' and Stable-Baselines3's A2C, the
synchronous version of A3C):

1. `num_envs` vectorized envs step `num_steps` times in one `lax.scan` (SB3: 8 x 5;
   we default to 8 x 32, which solved CartPole-v1 on every seed we tried with Adam).
2. Advantages: GAE(λ) (Schulman et al. 2016, arXiv:1506.02438). The default λ = 1
   gives A3C's n-step returns: each step sums the rollout's remaining rewards and
   bootstraps from V at the rollout end (V(final_obs) of truncated episodes too).
3. One gradient step per rollout on the whole `[T * B]` batch (no epochs, no
   minibatches): the data are strictly on-policy.
4. loss = policy_gradient_loss + vf_coef * value_loss - ent_coef * entropy
   (Mnih et al. 2016, §4 and Algorithm S3).
5. Adam (eps 1e-5, lr 1e-3) where SB3 uses RMSProp (lr 7e-4, alpha 0.99); learning
   rate annealed linearly to 0; global grad-norm clipping at 0.5.
6. Orthogonal init and separate policy/value torsos (networks.py).
7. Advantage normalization is optional (off in A3C and SB3; `norm_adv`).
"""

import dataclasses
import functools

from trax_rl.agents import actor_critic
from trax_rl.agents import training
from trax_rl.agents import updates

NAME = "a2c"


@dataclasses.dataclass(frozen=True)
class A2CConfig(training.RolloutConfig):
    """A2C hyperparameters (defaults: tuned on CartPole-v1 from SB3's A2C)."""

    total_timesteps: int = 500_000
    """Environment steps over the whole run (all envs together)."""
    num_envs: int = 8
    """Parallel environments."""
    num_steps: int = 32
    """Steps per environment in each rollout (the n of n-step returns)."""
    learning_rate: float = 1e-3
    """Adam's learning rate."""
    gae_lambda: float = 1.0
    """GAE lambda; 1.0 gives n-step returns bootstrapped from V at the rollout end."""
    norm_adv: bool = False
    """Normalize advantages over each rollout."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""

    def validate(self):
        super().validate()
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError(f"gae_lambda must be in [0, 1], got {self.gae_lambda}")
        return self


Config = A2CConfig


def make_learner(config, network, action_space, obs_space):
    targets_fn = functools.partial(updates.compute_targets, gamma=config.gamma,
                                   gae_lambda=config.gae_lambda)
    return actor_critic.make_learner(config, network, action_space, obs_space, targets_fn)


def make_train(config, env, env_params, network=None):
    """`train(key) -> (runner_state, metrics)`: a whole A2C run as one pure function."""
    return training.make_train(make_learner, config, env, env_params, network)
