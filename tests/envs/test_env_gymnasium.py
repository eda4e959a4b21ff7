"""The Gymnasium bridge (host vector envs) and our envs offered as Gymnasium envs."""

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import trax_rl.envs as envs

PORTS = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]


def _check_bridge_semantics(vec, num_steps, rng):
    """Runs random actions and checks the auto-reset/info contract against a replay."""
    obs = vec.reset()
    assert obs.shape == (vec.num_envs, *vec.observation_space.shape)
    returns = np.zeros(vec.num_envs)
    lengths = np.zeros(vec.num_envs, int)
    finished = 0
    for _ in range(num_steps):
        actions = np.array([int(rng.integers(vec.action_space.n)) for _ in range(vec.num_envs)])
        obs, reward, term, trunc, info = vec.step(actions)
        assert reward.dtype == np.float32 and term.dtype == bool and trunc.dtype == bool
        assert set(info) == {"final_obs", "episode_return", "episode_length"}
        returns += reward
        lengths += 1
        done = term | trunc
        np.testing.assert_array_equal(info["episode_length"], lengths)
        np.testing.assert_allclose(info["episode_return"], returns)
        np.testing.assert_array_equal(info["final_obs"][~done], obs[~done])
        returns[done], lengths[done] = 0, 0
        finished += done.sum()
        for o in obs:
            assert bool(vec.observation_space.contains(o))
    return finished


def test_bridge_cartpole_same_step_autoreset():
    with envs.make_gymnasium_vec("CartPole-v1", 4, seed=0) as vec:
        assert vec._env.autoreset_mode == gymnasium.vector.AutoresetMode.SAME_STEP
        assert vec.observation_space == envs.make("CartPole-v1")[0].observation_space()
        assert vec.action_space == envs.Discrete(2)
        assert _check_bridge_semantics(vec, 100, np.random.default_rng(0)) > 0
        # A finished sub-env's obs is already a fresh start (|x| <= 0.05 everywhere),
        # while final_obs is the terminal one (out of the pole's bounds).
        vec.reset()
        rng = np.random.default_rng(1)
        for _ in range(200):
            obs, _, term, _, info = vec.step(rng.integers(2, size=4))
            if term.any():
                assert np.all(np.abs(obs[term]) <= 0.05)
                final = info["final_obs"][term]
                assert np.all((np.abs(final[:, 0]) > 2.4) | (np.abs(final[:, 2]) > 0.2094))
                break
        else:
            pytest.fail("no episode terminated")


def test_bridge_frozen_lake_discrete_observations():
    with envs.make_gymnasium_vec("FrozenLake-v1", 3, seed=0, is_slippery=True) as vec:
        assert vec.observation_space == envs.Discrete(16)
        assert _check_bridge_semantics(vec, 150, np.random.default_rng(0)) > 0
        obs = vec.reset()
        assert obs.dtype == np.int32 and np.all(obs == 0)


def test_bridge_errors():
    with pytest.raises(ValueError, match="'CartPole-v2'.*did you mean 'CartPole-v1'"):
        envs.make_gymnasium_vec("CartPole-v2", 2)
    with pytest.raises(ValueError, match="ale-py"):
        envs.make_gymnasium_vec("ALE/Pong-v5", 2)
    with envs.make_gymnasium_vec("CartPole-v1", 2) as vec:
        vec.reset()
        with pytest.raises(TypeError, match=r"shape \(2,\) and an integer dtype"):
            vec.step(np.zeros(3, int))
        with pytest.raises(TypeError, match="integer dtype"):
            vec.step(np.zeros(2, np.float32))


def test_bridge_missing_extra_names_the_pip_command():
    try:
        import Box2D  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"gymnasium\[box2d\]"):
            envs.make_gymnasium_vec("LunarLander-v3", 2)
    else:
        pytest.skip("Box2D is installed")


@pytest.mark.parametrize("env_id", PORTS + ["Probe/TwoStepDiscount-v0", "Probe/ContinuousActionReward-v0"])
def test_as_gymnasium_passes_check_env(env_id):
    # Ports render through Gymnasium's renderer, so check_env checks that too.
    render_mode = "rgb_array" if env_id in PORTS else None
    env = envs.as_gymnasium(env_id, render_mode=render_mode)
    check_env(env, skip_render_check=render_mode is None)
    assert env.observation_space == envs.spaces.to_gymnasium(envs.make(env_id)[0].observation_space())


def test_as_gymnasium_episode_and_render():
    env = envs.as_gymnasium("CartPole-v1", seed=3, render_mode="rgb_array")
    obs, _ = env.reset()
    obs_again, _ = envs.as_gymnasium("CartPole-v1", seed=3).reset()
    np.testing.assert_array_equal(obs, obs_again)
    frame = env.render()
    assert frame.shape == (400, 600, 3)
    steps, done = 0, False
    while not done:
        obs, reward, term, trunc, _ = env.step(steps % 2)
        assert isinstance(reward, float) and env.observation_space.contains(obs)
        done, steps = term or trunc, steps + 1
    assert steps == 500 or abs(obs[0]) > 2.4 or abs(obs[2]) > 0.2094
    env.close()


def test_as_gymnasium_vector_same_step():
    vec = envs.as_gymnasium_vector("CartPole-v1", 8, seed=0)
    assert vec.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.SAME_STEP
    obs, _ = vec.reset()
    assert obs.shape == (8, 4) and vec.observation_space.contains(obs)
    saw_done = False
    for _ in range(60):
        obs, reward, term, trunc, infos = vec.step(vec.action_space.sample())
        done = term | trunc
        np.testing.assert_array_equal(infos["_final_obs"], done)
        np.testing.assert_array_equal(infos["final_obs"][~done], obs[~done])
        if done.any():
            saw_done = True
            assert np.all(np.abs(obs[done]) <= 0.05)
            np.testing.assert_array_equal(infos["episode"]["r"][done], infos["episode"]["l"][done])
    assert saw_done
