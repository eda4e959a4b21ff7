"""Evaluate or watch a trained agent: `python -m experiments.evaluate --run_dir=runs/...`.

Loads the checkpoint of a run folder written by any experiment script (no training),
runs `--episodes` episodes with mode actions (or sampled ones with `--stochastic`) and
prints `eval return: <mean> ± <std> over <n> episodes`. `--video=episode.gif` records one
episode with the environment's renderer (classic-control envs need pygame:
`pip install -e ".[video]"`).

From Python, `load_policy(run_dir)` gives the trained policy as a callable:

    policy = load_policy("runs/ppo_CartPole-v1_seed0")
    action = policy(obs)          # obs [*obs_shape] or [B, *obs_shape]
    policy.reset()                # forget a recurrent policy's memory (new episode)
"""

import dataclasses
import os
import sys
from typing import NamedTuple

import jax
import numpy as np

from experiments import backends
from experiments import common
from trax_rl import runs


class _Params(NamedTuple):  # Mirrors the checkpoint's key paths: .learner_state.params...
    params: object


class _Runner(NamedTuple):
    learner_state: _Params
    normalizer: object = None


class LoadedPolicy:
    """A trained policy from a run folder: `policy(obs) -> action`, host numpy in and out.

    Attributes: `config` (the run's flags), `policy` (the `networks.Policy`), `params`,
    `transform` (raw observation -> network input; one-hot for Discrete observations),
    `obs_shape` (one transformed observation), `normalizer` (the run's observation
    statistics with `--normalize_obs`, else None: applied, never updated).
    """

    def __init__(self, config, policy, params, transform, obs_shape, deterministic=True,
                 key=None, normalizer=None):
        from trax_rl.agents import normalization

        self.config, self.policy, self.params = config, policy, params
        self.normalizer = normalizer
        self._acting = normalization.acting_policy(policy, config.clip_obs)
        self.obs_shape = tuple(obs_shape)  # One observation, as the network sees it.
        self.transform, self.deterministic = transform, deterministic
        self._key = jax.random.PRNGKey(0) if key is None else key
        self._act = jax.jit(self._choose)
        self._carry = self._batch = None

    def _choose(self, params, obs, carry, reset, key):
        dist, _, carry = self._acting.apply(params, obs, carry, reset)
        return (dist.mode() if self.deterministic else dist.sample(key)), carry

    def reset(self):
        """Starts a new episode: a recurrent policy forgets what it saw."""
        self._carry = None

    def __call__(self, obs):
        obs = self.transform(obs)
        single = obs.ndim == len(self.obs_shape)
        batch = obs[None] if single else obs
        reset = np.zeros(batch.shape[0], bool)
        if self._carry is None or self._batch != batch.shape[0]:
            self._carry, self._batch = self.policy.init_carry(batch.shape[0]), batch.shape[0]
            reset[:] = True
        self._key, key = jax.random.split(self._key)
        action, self._carry = self._act((self.normalizer, self.params), batch, self._carry,
                                        reset, key)
        action = np.asarray(action)
        return action[0] if single else action


def _run_setup(run_dir):
    """`(algo, args, config, spaces)` of the run saved in `run_dir`."""
    import importlib

    from trax_rl import envs
    from trax_rl.agents import host_loop

    path = os.path.join(run_dir, "config.json")
    if not os.path.exists(path):
        raise runs.RunError(f"--run_dir: no run in {run_dir} (no config.json)")
    saved = runs.read_json(path)
    algo = importlib.import_module(f"trax_rl.agents.{saved['algo']}")
    script = importlib.import_module(f"experiments.{saved['algo']}")
    fields = {f.name for f in dataclasses.fields(script.Args)}
    args = script.Args(**{k: v for k, v in saved.items() if k in fields})
    config = common.algorithm_config(algo, args)
    if not _is_bridge_run(args):
        env, env_params = envs.make(args.env)
        action_space, obs_space = env.action_space(env_params), env.observation_space(env_params)
        transform = lambda obs: np.asarray(obs, obs_space.dtype)  # noqa: E731
    else:
        vec = envs.make_gymnasium_vec(args.env, 1)
        action_space = vec.action_space
        obs_space, transform = host_loop.network_observation_space(vec.observation_space)
        vec.close()
    return algo, args, config, action_space, obs_space, transform


def _saved_shapes(learner, config, obs_space, args):
    """The checkpoint's params and normalizer, as shapes (`[num_seeds, ...]` on JAX envs)."""
    from trax_rl.agents import normalization

    def one_seed(key):
        return _Runner(_Params(learner.params(learner.init(key))),
                       normalization.init(config, obs_space.shape, config.num_envs))

    if _is_bridge_run(args):  # The host runner trains one seed and saves no seed axis.
        return jax.eval_shape(one_seed, jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(0), args.num_seeds)
    return jax.eval_shape(jax.vmap(one_seed), keys)


def _is_bridge_run(args):
    from trax_rl import envs

    return args.bridge or not (args.env in envs.registered() or envs.is_import_path(args.env))


def load_policy(run_dir, *, seed_index=0, deterministic=True, key=None):
    """The trained policy of the run in `run_dir` as a `LoadedPolicy` (`obs -> action`).

    `seed_index` picks one seed of a `--num_seeds=N` run (0 is `--seed`). Actions are
    the distribution's mode, or samples (from `key`) when `deterministic=False`.
    """
    from trax_rl import checkpoint

    algo, args, config, action_space, obs_space, transform = _run_setup(run_dir)
    if args.torso == "transformer":
        raise runs.RunError("load_policy: transformer-torso runs read a window of "
                            "observations; evaluate them with rollout.evaluate on "
                            "wrappers.ObservationWindow(env)")
    if not 0 <= seed_index < args.num_seeds:
        raise runs.RunError(f"seed_index must be in [0, {args.num_seeds}), got {seed_index}")
    learner = backends.make_learner(algo, config, args.torso, action_space, obs_space)
    ckpt = os.path.join(run_dir, "checkpoint.ckpt")
    try:
        saved = checkpoint.restore(ckpt, _saved_shapes(learner, config, obs_space, args),
                                   partial=True)
    except (checkpoint.CheckpointError, OSError) as e:
        raise runs.RunError(f"cannot load {ckpt}: {e}") from None
    if not _is_bridge_run(args):
        saved = jax.tree.map(lambda x: x[seed_index], saved)
    return LoadedPolicy(args, learner.policy, saved.learner_state.params, transform,
                        obs_space.shape, deterministic, key, saved.normalizer)


@dataclasses.dataclass(frozen=True)
class Args:
    """Evaluate a trained agent from its run folder (no training)."""

    run_dir: str = ""
    """The run folder (holds config.json and checkpoint.ckpt)."""
    episodes: int = 10
    """Episodes to run."""
    stochastic: bool = False
    """Sample actions instead of taking the distribution's mode."""
    seed_index: int = 0
    """Which seed of a --num_seeds run (0 is its --seed)."""
    seed: int = 0
    """Seed of the evaluation episodes."""
    video: str = ""
    """Also record one episode to this .gif file with the env's renderer."""


def evaluate(policy, env_id, episodes, seed=0, max_episode_steps=0):
    """Returns of `episodes` episodes of `policy` on Gymnasium-API copies of `env_id`."""
    returns = []
    for i in range(episodes):
        returns.append(_episode(policy, _gym_env(env_id, max_episode_steps), seed + i)[0])
    return np.asarray(returns, np.float32)


def _gym_env(env_id, max_episode_steps, render_mode=None):
    import gymnasium

    from trax_rl import envs
    if env_id in envs.registered():
        env = envs.as_gymnasium(env_id, render_mode=render_mode)
        limit = max_episode_steps or envs.make(env_id)[1].max_steps_in_episode
    else:
        from trax_rl.envs import gymnasium_bridge
        limit = gymnasium_bridge.max_episode_steps(env_id, max_episode_steps or None)
        env = gymnasium.make(env_id, render_mode=render_mode)
        if isinstance(env.observation_space, (gymnasium.spaces.Tuple, gymnasium.spaces.Dict)):
            env = gymnasium.wrappers.FlattenObservation(env)
    return gymnasium.wrappers.TimeLimit(env, limit)


def _episode(policy, env, seed, frames=None):
    """One episode; returns `(return, length)` and appends rendered frames if asked."""
    obs, _ = env.reset(seed=seed)
    policy.reset()
    start = getattr(env.action_space, "start", 0)
    total, length, done = 0.0, 0, False
    while not done:
        if frames is not None:
            frames.append(env.render())
        action = policy(np.asarray(obs))
        if hasattr(env.action_space, "low"):  # Gaussian samples: clipped, as in training.
            action = np.clip(action, env.action_space.low, env.action_space.high)
        else:  # Our Discrete actions are 0-based.
            action = int(action) + start
        obs, reward, terminated, truncated, _ = env.step(action)
        total, length, done = total + float(reward), length + 1, terminated or truncated
    return total, length


def write_gif(frames, path, fps=30):
    """Writes RGB frames `[H, W, 3]` as an animated GIF (Pillow, which matplotlib needs)."""
    from PIL import Image

    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps),
                   loop=0)


def main(argv=None):
    import tyro

    argv = sys.argv[1:] if argv is None else argv
    try:
        args = tyro.cli(Args, args=common._bool_flags(argv, Args), use_underscores=True)
        if not args.run_dir:
            raise runs.RunError("--run_dir=<a run folder> is required")
        if args.episodes < 1:
            raise runs.RunError(f"--episodes must be >= 1, got {args.episodes}")
        if args.video and not args.video.endswith(".gif"):
            raise runs.RunError(f"--video must name a .gif file, got {args.video!r}")
        policy = load_policy(args.run_dir, seed_index=args.seed_index,
                             deterministic=not args.stochastic,
                             key=jax.random.PRNGKey(args.seed))
        env_id, limit = policy.config.env, policy.config.max_episode_steps
        returns = evaluate(policy, env_id, args.episodes, args.seed, limit)
        print(f"eval return: {returns.mean():.2f} ± {returns.std():.2f} over "
              f"{returns.size} episodes")
        if args.video:
            frames = []
            os.environ.setdefault("SDL_AUDIODRIVER", "dummy")  # pygame: no sound device.
            try:
                env = _gym_env(env_id, limit, render_mode="rgb_array")
                _episode(policy, env, args.seed, frames)
            except ImportError as e:  # Gymnasium's DependencyNotInstalled is one.
                raise runs.RunError(f"--video needs the env's renderer: {e} "
                                    f"(pip install -e \".[video]\")") from None
            write_gif(frames, args.video)
            print(f"video: {args.video} ({len(frames)} frames)")
        return returns
    except runs.RunError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
