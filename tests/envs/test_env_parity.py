"""Each port stepped in lockstep with Gymnasium's own env (TimeLimit included).

Before every step Gymnasium's state is set to ours, so each comparison checks one
transition (float32 here vs float64 there) rather than accumulated drift.
"""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trax_rl.envs as envs

TOL = dict(rtol=1e-5, atol=1e-5)

# (id, max_steps_in_episode override or None, steps, must see terminated, must see
# truncated). CartPole's random episodes never reach 500 steps, so a short limit
# exercises truncation there; the cars follow their velocity to reach the goal.
CASES = [
    ("CartPole-v1", 30, 1500, True, True),
    ("CartPole-v1", None, 500, True, False),
    ("Acrobot-v1", None, 1200, False, True),
    ("MountainCar-v0", None, 1200, True, False),
    ("MountainCarContinuous-v0", None, 2100, True, False),
    ("Pendulum-v1", None, 1200, False, True),
]


def _action(env_id, space, state, rng):
    """Random, except the cars mostly push along their velocity (reaching the goal)."""
    along = float(state.env_state[-1]) >= 0 if env_id.startswith("Mountain") else None
    if isinstance(space, envs.Discrete):
        if along is not None and rng.random() < 0.9:
            return 2 if along else 0
        return int(rng.integers(space.n))
    action = rng.uniform(-1.2, 1.2, space.shape).astype(np.float32) * space.high
    if along is not None and rng.random() < 0.9:
        action = np.abs(action) if along else -np.abs(action)
    return action


def _gym_state(env_state):
    return np.array([float(x) for x in env_state], np.float64)


@pytest.mark.parametrize("env_id,limit,steps,see_terminated,see_truncated", CASES)
def test_lockstep_parity_with_gymnasium(env_id, limit, steps, see_terminated, see_truncated):
    overrides = {} if limit is None else {"max_steps_in_episode": limit}
    env, params = envs.make(env_id, **overrides)
    gym_env = gymnasium.make(env_id, **({} if limit is None else {"max_episode_steps": limit}))
    assert gym_env.spec.max_episode_steps == params.max_steps_in_episode
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    step = jax.jit(env.step)
    step_env = jax.jit(env.step_env)
    key = jax.random.key(0)
    obs, state = env.reset(key, params)
    gym_env.reset(seed=0)
    rng = np.random.default_rng(0)
    n_terminated = n_truncated = 0
    for t in range(steps):
        gym_env.unwrapped.state = _gym_state(state.env_state)
        assert gym_env.get_wrapper_attr("_elapsed_steps") == int(state.time)
        gym_action = _action(env_id, act_space, state, rng)
        jax_action = jnp.asarray(gym_action, jnp.int32 if np.ndim(gym_action) == 0 else jnp.float32)
        key, step_key = jax.random.split(key)
        gym_obs, gym_reward, gym_term, gym_trunc, _ = gym_env.step(gym_action)
        _, stepped, _, _ = step_env(step_key, state.env_state, jax_action, params)
        np.testing.assert_allclose(_gym_state(stepped), np.asarray(gym_env.unwrapped.state, np.float64), **TOL)
        obs, state, reward, term, trunc, info = step(step_key, state, jax_action, params)
        np.testing.assert_allclose(info["final_obs"], gym_obs, **TOL, err_msg=f"step {t}")
        np.testing.assert_allclose(reward, gym_reward, **TOL)
        assert (bool(term), bool(trunc)) == (gym_term, gym_trunc), f"step {t}"
        assert obs.dtype == jnp.float32 and reward.dtype == jnp.float32
        assert bool(obs_space.contains(obs)) and bool(obs_space.contains(info["final_obs"]))
        if gym_term or gym_trunc:
            n_terminated += gym_term
            n_truncated += gym_trunc
            assert int(state.time) == 0 and float(state.episode_return) == 0.0
            gym_env.reset()
        else:
            np.testing.assert_array_equal(obs, info["final_obs"])
    assert n_terminated > 0 or not see_terminated
    assert n_truncated > 0 or not see_truncated


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "MountainCar-v0",
                                    "MountainCarContinuous-v0", "Pendulum-v1"])
def test_spaces_and_time_limit_match_gymnasium(env_id):
    env, params = envs.make(env_id)
    gym_env = gymnasium.make(env_id)
    assert params.max_steps_in_episode == gym_env.spec.max_episode_steps
    assert envs.spaces.to_gymnasium(env.observation_space(params)) == gym_env.observation_space
    ours, theirs = env.action_space(params), gym_env.action_space
    assert ours == envs.spaces.from_gymnasium(theirs)


# Gymnasium's initial-state bounds, per state field: (low, high).
RESET_BOUNDS = {
    "CartPole-v1": ([-0.05] * 4, [0.05] * 4),
    "Acrobot-v1": ([-0.1] * 4, [0.1] * 4),
    "MountainCar-v0": ([-0.6, 0.0], [-0.4, 0.0]),
    "MountainCarContinuous-v0": ([-0.6, 0.0], [-0.4, 0.0]),
    "Pendulum-v1": ([-np.pi, -1.0], [np.pi, 1.0]),
}


@pytest.mark.parametrize("env_id", list(RESET_BOUNDS))
def test_initial_state_distribution(env_id):
    env, params = envs.make(env_id)
    keys = jax.random.split(jax.random.key(1), 4096)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    samples = np.stack([np.asarray(x) for x in state.env_state], axis=1)  # (N, fields)
    low, high = map(np.asarray, RESET_BOUNDS[env_id])
    assert np.all(samples >= low) and np.all(samples <= high)
    spread = high - low
    # Uniform: the samples fill the interval and centre on its middle.
    np.testing.assert_allclose(samples.min(0), low, atol=0.01 * spread.max())
    np.testing.assert_allclose(samples.max(0), high, atol=0.01 * spread.max())
    np.testing.assert_allclose(samples.mean(0), (low + high) / 2, atol=0.03 * spread.max())
