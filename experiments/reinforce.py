"""REINFORCE from the command line: `python -m experiments.reinforce --env=CartPole-v1`.

`--help` lists every flag; defaults are in `trax_rl.agents.reinforce.ReinforceConfig`, with the
per-env tuned values below.
"""

import dataclasses

from experiments import common
from trax_rl import runs
from trax_rl.agents import reinforce

TUNED = {}


@dataclasses.dataclass(frozen=True)
class Args(common.ExperimentArgs, reinforce.ReinforceConfig):
    """Train a REINFORCE with a learned baseline agent and evaluate it."""


if __name__ == "__main__":
    common.main(reinforce, Args, TUNED)
    runs.exit_now()
