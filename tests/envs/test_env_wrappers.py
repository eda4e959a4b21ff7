"""Wrapper numerics against numpy, and both wrapper/vectorize orders."""

import jax
import jax.numpy as jnp
import numpy as np

import trax_rl.envs as envs


def _run(env, params, num_steps, action_fn, key=jax.random.key(0)):
    obs, state = env.reset(key, params)
    outs = [(obs, None, None, None)]
    step = jax.jit(env.step)
    for t in range(num_steps):
        key, k = jax.random.split(key)
        obs, state, reward, term, trunc, info = step(k, state, action_fn(t), params)
        outs.append((obs, reward, term, info))
    return outs, state


def test_running_mean_std_matches_numpy():
    data = np.random.default_rng(0).normal(3.0, 2.0, (50, 8, 3)).astype(np.float32)
    stats = envs.RunningMeanStd.create((3,))
    for batch in data:
        stats = stats.update(jnp.asarray(batch))
    flat = data.reshape(-1, 3)
    # The 1e-4 prior sample at (mean 0, var 1) shifts the moments by ~1e-6.
    np.testing.assert_allclose(stats.mean, flat.mean(0), rtol=1e-4)
    np.testing.assert_allclose(stats.var, flat.var(0), rtol=1e-4)
    np.testing.assert_allclose(stats.count, 400, rtol=1e-6)


def test_normalize_observation_shared_over_batch():
    env, params = envs.make("Pendulum-v1")
    wrapped = envs.NormalizeObservation(envs.vectorize(env, 16))
    plain = envs.vectorize(env, 16)
    zeros = lambda t: jnp.zeros((16, 1))  # noqa: E731
    outs, state = _run(wrapped, params, 30, zeros)
    raw, _ = _run(plain, params, 30, zeros)
    raw_obs = np.stack([np.asarray(o[0]) for o in raw])  # (T+1, B, 3)
    flat = raw_obs.reshape(-1, 3)
    np.testing.assert_allclose(state.obs_stats.mean, flat.mean(0), atol=1e-4)
    np.testing.assert_allclose(state.obs_stats.var, flat.var(0), rtol=1e-3, atol=1e-5)
    # The last observation is normalized with the statistics including it.
    expected = (raw_obs[-1] - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-8)
    np.testing.assert_allclose(outs[-1][0], expected, rtol=1e-3, atol=1e-3)
    assert wrapped.num_envs == 16 and wrapped.observation_space(params).shape == (3,)


def test_normalize_observation_per_env_when_vectorized_outside():
    env, params = envs.make("Pendulum-v1")
    venv = envs.vectorize(envs.NormalizeObservation(env), 4)
    outs, state = _run(venv, params, 10, lambda t: jnp.zeros((4, 1)))
    assert state.obs_stats.mean.shape == (4, 3)
    np.testing.assert_allclose(state.obs_stats.count, 11, rtol=1e-5)


def test_scale_reward_matches_gymnasium_formula():
    gamma = 0.9
    env, params = envs.make("Pendulum-v1", max_steps_in_episode=7)
    wrapped = envs.ScaleReward(envs.vectorize(env, 8), gamma=gamma)
    plain = envs.vectorize(env, 8)
    actions = lambda t: jnp.full((8, 1), np.sin(t), jnp.float32)  # noqa: E731
    outs, _ = _run(wrapped, params, 20, actions)
    raw, _ = _run(plain, params, 20, actions)
    ret, returns = np.zeros(8), []
    for (_, scaled, _, _), (_, reward, term, _) in zip(outs[1:], raw[1:]):
        ret = ret * gamma * (1 - np.asarray(term)) + np.asarray(reward)
        returns.append(ret)
        seen = np.concatenate(returns)
        # count starts at 1e-4 with var 1: merge that prior sample as Gymnasium does.
        n = len(seen)
        mean = seen.sum() / (n + 1e-4)
        var = (1e-4 * (1 + mean**2) + ((seen - mean) ** 2).sum()) / (n + 1e-4)
        np.testing.assert_allclose(scaled, np.asarray(reward) / np.sqrt(var + 1e-8), rtol=2e-3)


def test_clip_action_and_flatten_observation():
    env, params = envs.make("MountainCarContinuous-v0")
    clipped = envs.ClipAction(env)
    assert np.isinf(clipped.action_space(params).high).all()
    _, state = env.reset(jax.random.key(0), params)
    out_clipped = clipped.step(jax.random.key(1), state, jnp.array([5.0]), params)
    out_one = env.step(jax.random.key(1), state, jnp.array([1.0]), params)
    np.testing.assert_allclose(out_clipped[0], out_one[0])

    venv = envs.FlattenObservation(envs.vectorize(env, 3))
    obs, state = venv.reset(jax.random.key(0), params)
    assert obs.shape == (3, 2)
    obs, *_ , info = venv.step(jax.random.key(1), state, jnp.zeros((3, 1)), params)
    assert obs.shape == (3, 2) and info["final_obs"].shape == (3, 2)
    assert venv.observation_space(params).shape == (2,)


def test_select_observation_hides_entries():

    full, params = envs.make("CartPole-v1")
    partial, _ = envs.make("CartPoleNoVelocity-v1")
    key = jax.random.PRNGKey(3)
    obs_f, state_f = full.reset(key, params)
    obs_p, state_p = partial.reset(key, params)
    np.testing.assert_array_equal(obs_p, obs_f[np.array([0, 2])])
    for i in range(30):
        k = jax.random.PRNGKey(i)
        obs_f, state_f, _, _, _, info_f = full.step(k, state_f, i % 2, params)
        obs_p, state_p, _, _, _, info_p = partial.step(k, state_p, i % 2, params)
        np.testing.assert_array_equal(obs_p, obs_f[np.array([0, 2])])
        np.testing.assert_array_equal(info_p["final_obs"], info_f["final_obs"][np.array([0, 2])])
        assert partial.observation_space(params).contains(obs_p)


def test_observation_window_shifts_and_restarts():

    env, params = envs.make("CartPole-v1", max_steps_in_episode=3)
    windowed = envs.ObservationWindow(env, 2)
    obs, state = windowed.reset(jax.random.PRNGKey(0), params)
    first = np.asarray(obs[-1])
    np.testing.assert_array_equal(obs[0], np.zeros(4))
    obs, state, _, _, truncated, info = windowed.step(jax.random.PRNGKey(1), state, 0, params)
    np.testing.assert_array_equal(obs[0], first)
    np.testing.assert_array_equal(obs[1], info["final_obs"][1])
    for i in range(2):
        obs, state, _, _, truncated, info = windowed.step(jax.random.PRNGKey(2 + i), state, 0,
                                                          params)
    assert bool(truncated)
    np.testing.assert_array_equal(obs[0], np.zeros(4))  # A fresh episode's window.
    assert not np.array_equal(info["final_obs"], obs)
    batched = envs.vectorize(windowed, 5)
    obs, state = batched.reset(jax.random.PRNGKey(0), params)
    assert obs.shape == (5, 2, 4)
