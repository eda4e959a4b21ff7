"""AWR from the command line: `python -m experiments.awr --env=CartPole-v1`.

`--help` lists every flag; defaults are in `trax_rl.agents.awr.AWRConfig`, with the
per-env tuned values below.
"""

import dataclasses

from experiments import common
from trax_rl import runs
from trax_rl.agents import awr

TUNED = {}


@dataclasses.dataclass(frozen=True)
class Args(common.ExperimentArgs, awr.AWRConfig):
    """Train a Advantage-weighted regression agent and evaluate it."""


if __name__ == "__main__":
    common.main(awr, Args, TUNED)
    runs.exit_now()
