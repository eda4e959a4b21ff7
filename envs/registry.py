"""The registry of JAX environments: `make(env_id, **param_overrides)`, `register`.

Ids of ported Gymnasium environments are Gymnasium's own; probes live under
`Probe/`. Any other Gymnasium id runs on the host through
`trax_rl.envs.make_gymnasium_vec`. A user's own JAX env becomes reachable by id with
`register(id, entry_point)`, or by its import path: `make("my_pkg.my_module:MyEnv")`.
"""

import importlib
from typing import Any, Callable

from trax_rl.envs import probes
from trax_rl.envs.acrobot import Acrobot
from trax_rl.envs.cartpole import CartPole
from trax_rl.envs.environment import Environment
from trax_rl.envs.minatar_breakout import MinAtarBreakout
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
    # Pixels: minatar's MinAtar/Breakout-v1 (minimal actions), [10, 10, 4] booleans.
    "MinAtar/Breakout-v1": MinAtarBreakout,
    "Probe/ConstantReward-v0": probes.ConstantReward,
    "Probe/ObservationReward-v0": probes.ObservationReward,
    "Probe/TwoStepDiscount-v0": probes.TwoStepDiscount,
    "Probe/ActionReward-v0": probes.ActionReward,
    "Probe/ContinuousActionReward-v0": probes.ContinuousActionReward,
}


class UnknownEnvError(ValueError):
    """An id with no JAX environment registered."""


def registered() -> list[str]:
    """Ids `make` accepts (besides `module:Class` import paths)."""
    return list(_REGISTRY)


def register(env_id: str, entry_point: Callable[[], Environment] | str) -> None:
    """Makes `make(env_id)` build `entry_point()`: a class or factory, or its import
    path `"my_pkg.my_module:MyEnv"`. Re-registering an id replaces it."""
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env id must be a non-empty string, got {env_id!r}")
    if isinstance(entry_point, str):
        path = entry_point
        entry_point = lambda: _load(path)()  # noqa: E731  (imported when made)
    elif not callable(entry_point):
        raise TypeError(f"entry_point must be callable or 'module:Class', got {entry_point!r}")
    _REGISTRY[env_id] = entry_point


def is_import_path(env_id: str) -> bool:
    """Whether `env_id` looks like `module.path:Name`."""
    module, sep, name = env_id.partition(":")
    return bool(sep and module and name.isidentifier())


def _load(path):
    module, _, name = path.partition(":")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise UnknownEnvError(f"cannot import env {path!r}: {e}") from None
    return factory


def _build(env_id):
    if env_id in _REGISTRY:
        return _REGISTRY[env_id]()
    env = _load(env_id)()
    if not isinstance(env, Environment):
        raise UnknownEnvError(f"{env_id} built {type(env).__name__}, not a "
                              f"trax_rl.envs.Environment")
    return env


def make(env_id: str, **param_overrides: Any) -> tuple[Environment, Any]:
    """Returns `(env, params)`: the JAX environment and its default params, overridden.

    Example: `env, params = make("CartPole-v1", max_steps_in_episode=200)`.
    """
    if env_id not in _REGISTRY and not is_import_path(env_id):
        raise UnknownEnvError(
            f"Unknown JAX environment {env_id!r}; registered: {', '.join(_REGISTRY)}. "
            "Other Gymnasium ids run on the host through "
            f"trax_rl.envs.make_gymnasium_vec({env_id!r}, num_envs)."
        )
    env = _build(env_id)
    params = env.default_params
    unknown = sorted(set(param_overrides) - set(params._fields))
    if unknown:
        raise TypeError(
            f"{env_id} has no param(s) {', '.join(unknown)}; "
            f"valid params: {', '.join(params._fields)}"
        )
    return env, params._replace(**param_overrides)
