"""The registry of JAX environments: `make(env_id, **param_overrides)`.

Ids of ported Gymnasium environments are Gymnasium's own; probes live under
`Probe/`. Any other Gymnasium id runs on the host through
`trax_rl.envs.make_gymnasium_vec`.
"""

from typing import Any, Callable

from trax_rl.envs import probes
from trax_rl.envs.acrobot import Acrobot
from trax_rl.envs.cartpole import CartPole
from trax_rl.envs.environment import Environment
from trax_rl.envs.mountain_car import MountainCar
from trax_rl.envs.mountain_car_continuous import MountainCarContinuous
from trax_rl.envs.pendulum import Pendulum
from trax_rl.envs.wrappers import SelectObservation

_REGISTRY: dict[str, Callable[[], Environment]] = {
    "CartPole-v1": CartPole,
    "Acrobot-v1": Acrobot,
    "MountainCar-v0": MountainCar,
    "MountainCarContinuous-v0": MountainCarContinuous,
    "Pendulum-v1": Pendulum,
    # CartPole observing only cart position and pole angle: partially observed.
    "CartPoleNoVelocity-v1": lambda: SelectObservation(CartPole(), (0, 2)),
    "Probe/ConstantReward-v0": probes.ConstantReward,
    "Probe/ObservationReward-v0": probes.ObservationReward,
    "Probe/TwoStepDiscount-v0": probes.TwoStepDiscount,
    "Probe/ActionReward-v0": probes.ActionReward,
    "Probe/ContinuousActionReward-v0": probes.ContinuousActionReward,
}


class UnknownEnvError(ValueError):
    """An id with no JAX environment registered."""


def registered() -> list[str]:
    """Ids `make` accepts."""
    return list(_REGISTRY)


def make(env_id: str, **param_overrides: Any) -> tuple[Environment, Any]:
    """Returns `(env, params)`: the JAX environment and its default params, overridden.

    Example: `env, params = make("CartPole-v1", max_steps_in_episode=200)`.
    """
    if env_id not in _REGISTRY:
        raise UnknownEnvError(
            f"Unknown JAX environment {env_id!r}; registered: {', '.join(_REGISTRY)}. "
            "Other Gymnasium ids run on the host through "
            f"trax_rl.envs.make_gymnasium_vec({env_id!r}, num_envs)."
        )
    env = _REGISTRY[env_id]()
    params = env.default_params
    unknown = sorted(set(param_overrides) - set(params._fields))
    if unknown:
        raise TypeError(
            f"{env_id} has no param(s) {', '.join(unknown)}; "
            f"valid params: {', '.join(params._fields)}"
        )
    return env, params._replace(**param_overrides)
