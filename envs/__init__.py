"""trax_rl.envs: pure JAX environments, their registry and wrappers, and the Gymnasium bridge.

    env, params = trax_rl.envs.make("CartPole-v1")
    env = trax_rl.envs.vectorize(env, 64)
    obs, state = env.reset(key, params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, actions, params)

Gymnasium ids without a JAX port run on the host: `make_gymnasium_vec(id, num_envs)`.
Our envs are offered to Gymnasium tools through `as_gymnasium`/`as_gymnasium_vector`.
"""

from trax_rl.envs import spaces as spaces
from trax_rl.envs.acrobot import Acrobot as Acrobot
from trax_rl.envs.cartpole import CartPole as CartPole
from trax_rl.envs.environment import EnvState as EnvState
from trax_rl.envs.environment import Environment as Environment
from trax_rl.envs.gymnasium_bridge import HostVectorEnv as HostVectorEnv
from trax_rl.envs.gymnasium_bridge import make_gymnasium_vec as make_gymnasium_vec
from trax_rl.envs.gymnasium_wrappers import as_gymnasium as as_gymnasium
from trax_rl.envs.gymnasium_wrappers import as_gymnasium_vector as as_gymnasium_vector
from trax_rl.envs.minatar_breakout import MinAtarBreakout as MinAtarBreakout
from trax_rl.envs.mountain_car import MountainCar as MountainCar
from trax_rl.envs.mountain_car_continuous import MountainCarContinuous as MountainCarContinuous
from trax_rl.envs.pendulum import Pendulum as Pendulum
from trax_rl.envs.registry import UnknownEnvError as UnknownEnvError
from trax_rl.envs.registry import make as make
from trax_rl.envs.registry import is_import_path as is_import_path
from trax_rl.envs.registry import register as register
from trax_rl.envs.registry import registered as registered
from trax_rl.envs.spaces import Box as Box
from trax_rl.envs.spaces import Discrete as Discrete
from trax_rl.envs.wrappers import ClipAction as ClipAction
from trax_rl.envs.wrappers import FlattenObservation as FlattenObservation
from trax_rl.envs.wrappers import NormalizeObservation as NormalizeObservation
from trax_rl.envs.wrappers import ObservationWindow as ObservationWindow
from trax_rl.running_stats import RunningMeanStd as RunningMeanStd
from trax_rl.envs.wrappers import ScaleReward as ScaleReward
from trax_rl.envs.wrappers import SelectObservation as SelectObservation
from trax_rl.envs.wrappers import VectorizedEnv as VectorizedEnv
from trax_rl.envs.wrappers import Wrapper as Wrapper
from trax_rl.envs.wrappers import vectorize as vectorize

__all__ = [
    "Acrobot",
    "Box",
    "CartPole",
    "ClipAction",
    "Discrete",
    "EnvState",
    "Environment",
    "FlattenObservation",
    "HostVectorEnv",
    "MountainCar",
    "MountainCarContinuous",
    "NormalizeObservation",
    "ObservationWindow",
    "Pendulum",
    "RunningMeanStd",
    "ScaleReward",
    "SelectObservation",
    "UnknownEnvError",
    "VectorizedEnv",
    "Wrapper",
    "as_gymnasium",
    "as_gymnasium_vector",
    "make",
    "make_gymnasium_vec",
    "registered",
    "register",
    "is_import_path",
    "spaces",
    "vectorize",
]
