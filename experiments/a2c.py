"""A2C from the command line: `python -m experiments.a2c --env=CartPole-v1`.

`--help` lists every flag; defaults are in `trax_rl.agents.a2c.A2CConfig`, with the
per-env tuned values below.
"""

import dataclasses

from experiments import common
from trax_rl import runs
from trax_rl.agents import a2c

TUNED = {
    # Normalized advantages, 64-step rollouts, 1M steps: 32/32 of seeds 0-31 (tuning) and
    # 31/32 of fresh seeds 300-331 evaluate >= 475 (500k steps: 28/32 of seeds 100-131).
    "CartPole-v1": dict(norm_adv=True, num_steps=64, total_timesteps=1_000_000),
}


@dataclasses.dataclass(frozen=True)
class Args(common.ExperimentArgs, a2c.A2CConfig):
    """Train a Synchronous advantage actor-critic agent and evaluate it."""


if __name__ == "__main__":
    common.main(a2c, Args, TUNED)
    runs.exit_now()
