"""The contract (auto-reset, info, time limit), jit/vmap, registry, spaces and probes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import trax_rl.envs as envs


def _rollout(env, params, num_steps, key, policy):
    """lax.scan over steps; returns the per-step outputs stacked on a leading axis."""

    def body(carry, key):
        obs, state = carry
        act_key, step_key = jax.random.split(key)
        action = policy(act_key, obs)
        obs, state, reward, term, trunc, info = env.step(step_key, state, action, params)
        return (obs, state), (obs, reward, term, trunc, info)

    reset_key, scan_key = jax.random.split(key)
    carry = env.reset(reset_key, params)
    return jax.lax.scan(body, carry, jax.random.split(scan_key, num_steps))


def test_vmap_jit_over_1000_envs_with_auto_reset():
    env, params = envs.make("CartPole-v1", max_steps_in_episode=50)
    venv = envs.vectorize(env, 1000)
    assert venv.num_envs == 1000

    def policy(key, obs):
        return jax.random.randint(key, obs.shape[:1], 0, 2)

    run = jax.jit(lambda key: _rollout(venv, params, 120, key, policy))
    (obs, state), (obs_t, reward, term, trunc, info) = run(jax.random.key(0))
    assert obs.shape == (1000, 4) and reward.shape == (120, 1000)
    assert reward.dtype == jnp.float32 and term.dtype == jnp.bool_ and trunc.dtype == jnp.bool_
    done = np.asarray(term | trunc)
    assert done.any() and np.asarray(trunc).any()
    # Every finished episode's length and return: CartPole pays 1 per step.
    lengths = np.asarray(info["episode_length"])[done]
    np.testing.assert_array_equal(np.asarray(info["episode_return"])[done], lengths)
    assert lengths.max() == 50 and lengths.min() >= 1
    # Where episodes go on, obs is the final obs; where they end, it is a fresh start.
    same = np.all(np.asarray(obs_t) == np.asarray(info["final_obs"]), axis=-1)
    np.testing.assert_array_equal(same[~done], True)
    fresh = np.asarray(obs_t)[done]
    assert np.all(np.abs(fresh) <= 0.05)
    assert np.all(np.asarray(state.time) < 50)


def test_time_limit_truncates_even_when_terminating():
    # Gymnasium's TimeLimit sets truncated at the limit whatever terminated is.
    env, params = envs.make("Probe/ConstantReward-v0", max_steps_in_episode=1)
    obs, state = env.reset(jax.random.key(0), params)
    _, _, _, term, trunc, info = env.step(jax.random.key(1), state, jnp.int32(0), params)
    assert bool(term) and bool(trunc) and int(info["episode_length"]) == 1


def test_same_key_same_trajectory_and_params_are_traced():
    env, params = envs.make("Pendulum-v1")

    @jax.jit
    def run(key, params):
        return _rollout(env, params, 20, key, lambda k, o: jnp.zeros((1,)))[1][1]

    r1, r2 = run(jax.random.key(3), params), run(jax.random.key(3), params)
    np.testing.assert_array_equal(r1, r2)
    r3 = run(jax.random.key(3), params._replace(g=9.81))  # no recompile needed
    assert not np.allclose(r1, r3)


def test_registry_errors_are_helpful():
    assert set(envs.registered()) >= {"CartPole-v1", "Acrobot-v1", "MountainCar-v0",
                                      "MountainCarContinuous-v0", "Pendulum-v1"}
    with pytest.raises(envs.UnknownEnvError, match="CartPole-v1.*make_gymnasium_vec"):
        envs.make("LunarLander-v3")
    with pytest.raises(ValueError):  # UnknownEnvError is a ValueError
        envs.make("nope")
    with pytest.raises(TypeError, match="gravityy.*valid params: .*gravity"):
        envs.make("CartPole-v1", gravityy=1.0)
    env, params = envs.make("CartPole-v1", masspole=0.2)
    assert params.masspole == 0.2 and params.polemass_length == pytest.approx(0.1)


def test_wrong_action_shape_or_dtype_is_a_clear_error():
    env, params = envs.make("CartPole-v1")
    _, state = env.reset(jax.random.key(0), params)
    with pytest.raises(TypeError, match="integer scalar"):
        env.step(jax.random.key(1), state, jnp.float32(1.0), params)
    with pytest.raises(TypeError, match="integer scalar.*vectorize"):
        env.step(jax.random.key(1), state, jnp.zeros((2,), jnp.int32), params)
    env, params = envs.make("Pendulum-v1")
    _, state = env.reset(jax.random.key(0), params)
    with pytest.raises(TypeError, match=r"shape=\(1,\)"):
        env.step(jax.random.key(1), state, jnp.float32(1.0), params)
    venv = envs.vectorize(env, 4)
    _, state = venv.reset(jax.random.key(0), params)
    with pytest.raises(TypeError, match="leading axis of 4"):
        venv.step(jax.random.key(1), state, jnp.zeros((3, 1)), params)


def test_spaces():
    box = envs.Box(-1.0, np.array([1.0, np.inf]), dtype=jnp.float32)
    assert box.shape == (2,) and box.dtype == jnp.float32
    samples = jax.vmap(box.sample)(jax.random.split(jax.random.key(0), 500))
    assert samples.shape == (500, 2) and samples.dtype == jnp.float32
    assert bool(jnp.all(jax.vmap(box.contains)(samples)))
    assert np.all(np.asarray(samples[:, 0]) <= 1.0) and np.asarray(samples[:, 1]).min() >= -1.0
    assert not bool(box.contains(jnp.array([2.0, 0.0]))) and not bool(box.contains(jnp.zeros(3)))
    disc = envs.Discrete(3)
    draws = jax.vmap(disc.sample)(jax.random.split(jax.random.key(1), 300))
    assert set(np.asarray(draws).tolist()) == {0, 1, 2}
    assert bool(jax.jit(disc.contains)(jnp.int32(2))) and not bool(disc.contains(jnp.int32(3)))
    assert not bool(disc.contains(jnp.float32(1.0)))
    for space in (box, disc, envs.Discrete(4, start=1)):
        assert envs.spaces.from_gymnasium(envs.spaces.to_gymnasium(space)) == space


def _values_of(env_id, num_steps=16, policy=None):
    env, params = envs.make(env_id)
    venv = envs.vectorize(env, 64)
    space = env.action_space(params)
    policy = policy or (lambda k, o: jax.vmap(space.sample)(jax.random.split(k, 64)))
    _, (obs, reward, term, trunc, info) = jax.jit(
        lambda k: _rollout(venv, params, num_steps, k, policy)
    )(jax.random.key(0))
    return np.asarray(info["final_obs"])[..., 0], np.asarray(reward), np.asarray(term)


def test_probes():
    obs, reward, term = _values_of("Probe/ConstantReward-v0")
    assert np.all(reward == 1.0) and np.all(term) and np.all(obs == 0.0)
    obs, reward, term = _values_of("Probe/ObservationReward-v0")
    np.testing.assert_array_equal(reward, obs)
    assert set(np.unique(obs)) == {-1.0, 1.0} and np.all(term)
    obs, reward, term = _values_of("Probe/TwoStepDiscount-v0")
    # Steps alternate: obs 0 -> (obs 1, reward 0) then obs 1 -> (reward 1, ends).
    np.testing.assert_array_equal(term[1::2], True)
    np.testing.assert_array_equal(term[0::2], False)
    np.testing.assert_array_equal(reward, term.astype(np.float32))
    right = lambda k, o: (o[:, 0] > 0).astype(jnp.int32)  # noqa: E731
    _, reward, _ = _values_of("Probe/ActionReward-v0", policy=right)
    assert np.all(reward == 1.0)
    _, reward, _ = _values_of("Probe/ActionReward-v0", policy=lambda k, o: 1 - right(k, o))
    assert np.all(reward == 0.0)
    _, reward, _ = _values_of("Probe/ContinuousActionReward-v0", policy=lambda k, o: o)
    assert np.all(reward == 0.0)
    obs, reward, _ = _values_of("Probe/ContinuousActionReward-v0", policy=lambda k, o: jnp.zeros_like(o))
    np.testing.assert_allclose(reward, -(obs**2))


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1"])
def test_vectorized_without_resets_keeps_the_first_episodes_and_draws_no_new_ones(env_id):
    env, params = envs.make(env_id, max_steps_in_episode=40)
    space = env.action_space(params)
    policy = lambda k, o: jax.vmap(space.sample)(jax.random.split(k, 64))  # noqa: E731
    runs = [jax.jit(lambda k, v=v: _rollout(v, params, 60, k, policy)[1])(jax.random.key(3))
            for v in (envs.vectorize(env, 64), envs.vectorize(env, 64, resets=False))]
    (obs, reward, term, trunc, info), (obs_n, reward_n, term_n, trunc_n, info_n) = runs
    done = np.asarray(term | trunc)
    first = np.cumsum(done, axis=0) - done == 0  # No earlier step of that env ended.
    assert done.any(axis=0).all() and not first.all()
    for a, b in [(reward, reward_n), (term, term_n), (trunc, trunc_n),
                 (info["episode_return"], info_n["episode_return"]),
                 (info["final_obs"], info_n["final_obs"])]:
        np.testing.assert_array_equal(np.asarray(a)[first], np.asarray(b)[first])
    # Where an episode ends, the next obs is a fresh episode's, or without resets the
    # last one's final obs, from which that env goes on (time and return from 0).
    ended = done[:, :, None] & np.ones(np.shape(obs), bool)
    np.testing.assert_array_equal(np.asarray(obs_n)[ended], np.asarray(info_n["final_obs"])[ended])
    assert not np.array_equal(np.asarray(obs)[ended], np.asarray(info["final_obs"])[ended])
    assert repr(envs.vectorize(env, 64, resets=False)).endswith(", 64, resets=False)")


def test_vectorized_reset_budget_gives_independent_fresh_episodes():
    env, params = envs.make("CartPole-v1", max_steps_in_episode=3)
    for budget in (2, 64):  # 2: overflow, one draw per env; 64: within budget
        venv = envs.vectorize(env, 256, reset_budget=budget)
        _, state = jax.jit(venv.reset)(jax.random.key(0), params)
        step = jax.jit(venv.step)
        actions = jnp.zeros((256,), jnp.int32)
        for t in range(3):
            obs, state, _, _, trunc, info = step(jax.random.key(t + 1), state, actions, params)
        assert bool(trunc.all())  # every env restarted on the same step
        fresh = np.asarray(obs)
        assert len(np.unique(fresh[:, 0])) == 256 and np.all(np.abs(fresh) <= 0.05)
        np.testing.assert_array_equal(state.time, 0)
    # Within budget: a few envs end, each gets its own fresh start.
    venv = envs.vectorize(env, 256, reset_budget=32)
    _, state = jax.jit(venv.reset)(jax.random.key(0), params)
    state = state._replace(time=state.time.at[:20].set(2))
    obs, state, _, _, trunc, _ = jax.jit(venv.step)(jax.random.key(9), state, actions, params)
    np.testing.assert_array_equal(trunc, np.arange(256) < 20)
    assert len(np.unique(np.asarray(obs)[:20, 0])) == 20
