"""Tests for trax_rl.agents.advantages: hand-computed streams, numpy references, jit, vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl.agents import advantages as adv

# One stream of T = 4 steps, gamma = 0.9, crossing two episode boundaries:
#   step 1 is TRUNCATED (time limit): bootstrap from V(final_obs) = 10, cut λ.
#   step 3 is TERMINATED: no bootstrap (its next_value 99 must be ignored).
GAMMA = 0.9
REWARDS = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
VALUES = np.array([0.5, 1.0, 1.5, 2.0], np.float32)
NEXT_VALUES = np.array([1.0, 10.0, 2.0, 99.0], np.float32)
TERMINATED = np.array([0, 0, 0, 1], bool)
TRUNCATED = np.array([0, 1, 0, 0], bool)
DISCOUNTS = (GAMMA * (1 - TERMINATED)).astype(np.float32)
CONTINUES = (1 - (TERMINATED | TRUNCATED)).astype(np.float32)


def _stream():
    return dict(rewards=REWARDS, next_values=NEXT_VALUES, discounts=DISCOUNTS,
                continues=CONTINUES)


def _numpy_gae(rewards, values, next_values, discounts, continues, lam):
    """Forward sums A_t = Σ_l (Π_{k<l} d λ c)_{t+k} δ_{t+l}, independent of the scan."""
    deltas = rewards + discounts * next_values - values
    out = np.zeros_like(rewards)
    for t in range(len(rewards)):
        weight = 1.0
        for l in range(t, len(rewards)):
            out[t] += weight * deltas[l]
            weight *= discounts[l] * lam * continues[l]
    return out


def _numpy_lambda_returns(rewards, next_values, discounts, continues, lam):
    """λ-return as the (1-λ)-weighted mix of n-step returns, written episode by episode."""
    T = len(rewards)
    out = np.zeros_like(rewards)
    for t in range(T):
        # n-step returns G^(n)_t for n = 1.. until the episode or the stream ends.
        n_step, acc, disc = [], 0.0, 1.0
        for l in range(t, T):
            acc += disc * rewards[l]
            disc *= discounts[l]
            n_step.append(acc + disc * next_values[l])
            if continues[l] == 0 or l == T - 1:
                break
        weights = [(1 - lam) * lam**i for i in range(len(n_step) - 1)]
        weights.append(lam ** (len(n_step) - 1))
        out[t] = np.dot(weights, n_step)
    return out


def test_discounted_returns_hand_computed():
    # G3 = 4; G2 = 3 + .9*4; G1 = 2 + .9*V(final_obs)=10; G0 = 1 + .9*G1.
    np.testing.assert_allclose(adv.discounted_returns(**_stream()),
                               [10.9, 11.0, 6.6, 4.0], rtol=1e-6)


def test_truncation_bootstraps_where_termination_does_not():
    as_terminated = dict(_stream(), discounts=np.array([0.9, 0.0, 0.9, 0.0], np.float32))
    np.testing.assert_allclose(adv.discounted_returns(**as_terminated),
                               [2.8, 2.0, 6.6, 4.0], rtol=1e-6)


def test_stream_ending_mid_episode_bootstraps_from_last_next_value():
    ones = np.ones(3, np.float32)
    returns = adv.discounted_returns(ones, np.array([0.0, 0.0, 8.0], np.float32),
                                     0.5 * ones, ones)
    np.testing.assert_allclose(returns, [2.75, 3.5, 5.0])


def test_td_lambda_hand_computed():
    # G3 = 4; G2 = 3 + .9(.5*2 + .5*4); G1 = 2 + .9*10; G0 = 1 + .9(.5*1 + .5*11).
    np.testing.assert_allclose(adv.td_lambda(**_stream(), lambda_=0.5),
                               [6.4, 11.0, 5.7, 4.0], rtol=1e-6)


def test_gae_hand_computed():
    # δ = [1.4, 10, 3.3, 2]; A3 = 2; A2 = 3.3 + .45*2; A1 = 10 (cut); A0 = 1.4 + .45*10.
    advantages = adv.gae(REWARDS, VALUES, NEXT_VALUES, DISCOUNTS, CONTINUES, 0.5)
    np.testing.assert_allclose(advantages, [5.9, 10.0, 4.2, 2.0], rtol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_gae_plus_values_equals_td_lambda_and_numpy(lam):
    # Inside episodes next_values[t] must equal values[t + 1] for this identity.
    values = np.array([0.5, 1.0, 1.5, 2.0], np.float32)
    advantages = adv.gae(REWARDS, values, NEXT_VALUES, DISCOUNTS, CONTINUES, lam)
    returns = adv.td_lambda(**_stream(), lambda_=lam)
    np.testing.assert_allclose(advantages + values, returns, rtol=1e-5)
    np.testing.assert_allclose(
        advantages, _numpy_gae(REWARDS, values, NEXT_VALUES, DISCOUNTS, CONTINUES, lam),
        rtol=1e-5)
    np.testing.assert_allclose(
        returns, _numpy_lambda_returns(REWARDS, NEXT_VALUES, DISCOUNTS, CONTINUES, lam),
        rtol=1e-5)


def test_lambda_limits():
    one_step = REWARDS + DISCOUNTS * NEXT_VALUES
    np.testing.assert_allclose(adv.td_lambda(**_stream(), lambda_=0.0), one_step)
    np.testing.assert_allclose(
        adv.gae(REWARDS, VALUES, NEXT_VALUES, DISCOUNTS, CONTINUES, 0.0), one_step - VALUES)
    np.testing.assert_allclose(adv.td_lambda(**_stream(), lambda_=1.0),
                               adv.discounted_returns(**_stream()))
    np.testing.assert_allclose(
        adv.gae(REWARDS, VALUES, NEXT_VALUES, DISCOUNTS, CONTINUES, 1.0),
        np.array([10.9, 11.0, 6.6, 4.0]) - VALUES, rtol=1e-6)


def test_per_step_lambda_and_bool_continues():
    lam = np.array([0.5, 0.5, 0.5, 0.5], np.float32)
    advantages = adv.gae(REWARDS, VALUES, NEXT_VALUES, DISCOUNTS, CONTINUES.astype(bool), lam)
    np.testing.assert_allclose(advantages, [5.9, 10.0, 4.2, 2.0], rtol=1e-6)


def test_jit_matches_eager():
    args = (REWARDS, VALUES, NEXT_VALUES, DISCOUNTS, CONTINUES, 0.7)
    np.testing.assert_allclose(jax.jit(adv.gae)(*args), adv.gae(*args), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(adv.td_lambda)(**_stream(), lambda_=0.7),
                               adv.td_lambda(**_stream(), lambda_=0.7), rtol=1e-6)


def _random_time_major(T=6, B=3, seed=0):
    rng = np.random.default_rng(seed)
    terminated = rng.random((T, B)) < 0.2
    truncated = ~terminated & (rng.random((T, B)) < 0.2)
    return dict(
        rewards=rng.normal(size=(T, B)).astype(np.float32),
        values=rng.normal(size=(T, B)).astype(np.float32),
        next_values=rng.normal(size=(T, B)).astype(np.float32),
        discounts=(0.99 * ~terminated).astype(np.float32),
        continues=(~(terminated | truncated)).astype(np.float32),
    )


def test_vmap_over_time_major_batch():
    b = _random_time_major()
    order = ("rewards", "values", "next_values", "discounts", "continues")
    expected = np.stack(
        [_numpy_gae(*(b[k][:, i] for k in order), 0.9) for i in range(3)], axis=1)
    via_vmap = jax.vmap(adv.gae, in_axes=(1, 1, 1, 1, 1, None), out_axes=1)(
        *(b[k] for k in order), 0.9)
    via_batched = jax.jit(adv.batched(adv.gae))(*(b[k] for k in order), lambda_=0.9)
    np.testing.assert_allclose(via_vmap, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(via_batched, expected, rtol=1e-5, atol=1e-6)
    assert via_batched.shape == (6, 3)

    returns = adv.batched(adv.discounted_returns)(
        b["rewards"], b["next_values"], b["discounts"], b["continues"])
    for i in range(3):
        np.testing.assert_allclose(
            returns[:, i],
            _numpy_lambda_returns(b["rewards"][:, i], b["next_values"][:, i],
                                  b["discounts"][:, i], b["continues"][:, i], 1.0),
            rtol=1e-5, atol=1e-6)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"rank-1 time series"):
        adv.gae(REWARDS[:, None], VALUES, NEXT_VALUES, DISCOUNTS, CONTINUES, 0.9)
    with pytest.raises(ValueError, match=r"same T steps"):
        adv.td_lambda(REWARDS[:3], NEXT_VALUES, DISCOUNTS, CONTINUES, 0.9)
    with pytest.raises(TypeError, match=r"rewards must be floating point"):
        adv.discounted_returns(np.arange(4), NEXT_VALUES, DISCOUNTS, CONTINUES)
    with pytest.raises(ValueError, match=r"lambda_"):
        adv.td_lambda(**_stream(), lambda_=np.ones(3, np.float32))


def test_dtype_follows_inputs():
    out = adv.gae(*(jnp.asarray(x, jnp.bfloat16) for x in
                    (REWARDS, VALUES, NEXT_VALUES, DISCOUNTS)), CONTINUES, 0.5)
    assert out.dtype == jnp.bfloat16
