"""Tests for trax_rl.agents.distributions against numpy / scipy.stats and sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
import scipy.stats

from trax_rl.agents.distributions import Categorical, Gaussian

LOGITS = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], np.float32)


def _np_log_softmax(logits):
    return logits - scipy.special.logsumexp(logits, axis=-1, keepdims=True)


def test_categorical_log_prob_entropy_mode_kl_match_numpy():
    dist = Categorical(jnp.asarray(LOGITS))
    logp = _np_log_softmax(LOGITS)
    actions = np.array([2, 0])
    np.testing.assert_allclose(dist.log_prob(actions), logp[[0, 1], actions], rtol=1e-6)
    np.testing.assert_allclose(dist.entropy(), scipy.stats.entropy(np.exp(logp), axis=-1),
                               rtol=1e-6)
    np.testing.assert_array_equal(dist.mode(), [1, 2])
    other_logits = LOGITS[::-1]
    expected_kl = scipy.stats.entropy(np.exp(logp), np.exp(_np_log_softmax(other_logits)),
                                      axis=-1)
    np.testing.assert_allclose(dist.kl(Categorical(other_logits)), expected_kl, rtol=1e-5)
    np.testing.assert_allclose(dist.kl(dist), [0.0, 0.0], atol=1e-7)


def test_categorical_masked_action_keeps_entropy_finite():
    dist = Categorical(jnp.array([0.0, 0.0, -jnp.inf]))
    np.testing.assert_allclose(dist.entropy(), np.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(dist.kl(dist), 0.0, atol=1e-7)
    # 0 * log 0 must not poison gradients through the masked logit.
    grad = jax.grad(lambda l: Categorical(l).entropy())(jnp.array([0.0, 1.0, -jnp.inf]))
    p0 = 1 / (1 + np.e)
    np.testing.assert_allclose(grad, [p0 * (1 - p0), -p0 * (1 - p0), 0.0], rtol=1e-5)


def test_categorical_sampling_frequencies():
    probs = np.array([0.2, 0.5, 0.3])
    dist = Categorical(jnp.log(jnp.asarray(probs, jnp.float32)))
    samples = jax.vmap(dist.sample)(jax.random.split(jax.random.key(0), 10_000))
    assert samples.dtype == jnp.int32
    freqs = np.bincount(np.asarray(samples), minlength=3) / 10_000
    # 4 standard errors of a binomial proportion at n = 10k is <= 0.02.
    np.testing.assert_allclose(freqs, probs, atol=0.02)


def test_gaussian_log_prob_and_entropy_match_scipy():
    mean = np.array([[0.0, 1.0, -2.0], [0.5, 0.5, 0.5]], np.float32)
    log_std = np.array([[0.0, -0.5, 0.3], [1.0, 0.2, -1.0]], np.float32)
    x = np.array([[0.3, 0.9, -1.0], [0.0, 2.0, 0.4]], np.float32)
    dist = Gaussian(jnp.asarray(mean), jnp.asarray(log_std))
    std = np.exp(log_std)
    for i in range(2):
        mvn = scipy.stats.multivariate_normal(mean[i], np.diag(std[i] ** 2))
        np.testing.assert_allclose(dist.log_prob(x)[i], mvn.logpdf(x[i]), rtol=1e-5)
        np.testing.assert_allclose(dist.entropy()[i], mvn.entropy(), rtol=1e-5)
    np.testing.assert_array_equal(dist.mode(), mean)


def test_gaussian_state_independent_log_std_broadcasts():
    mean = jnp.zeros((4, 2))
    log_std = jnp.array([0.0, 1.0])
    dist = Gaussian(mean, log_std)
    expected = 2 * (0.5 + 0.5 * np.log(2 * np.pi)) + 1.0
    np.testing.assert_allclose(dist.entropy(), np.full(4, expected), rtol=1e-6)
    assert dist.log_prob(jnp.ones((4, 2))).shape == (4,)
    assert dist.sample(jax.random.key(0)).shape == (4, 2)


def test_gaussian_kl_matches_closed_form_and_monte_carlo():
    p = Gaussian(jnp.array([0.0, 1.0]), jnp.array([0.0, -0.5]))
    q = Gaussian(jnp.array([0.5, 0.0]), jnp.array([0.3, 0.1]))
    # Univariate closed form, per dimension, written from the textbook formula.
    s1, s2 = np.exp([0.0, -0.5]), np.exp([0.3, 0.1])
    m1, m2 = np.array([0.0, 1.0]), np.array([0.5, 0.0])
    closed = np.sum(np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5)
    np.testing.assert_allclose(p.kl(q), closed, rtol=1e-5)
    samples = jax.vmap(p.sample)(jax.random.split(jax.random.key(1), 20_000))
    monte_carlo = jnp.mean(p.log_prob(samples) - q.log_prob(samples))
    np.testing.assert_allclose(monte_carlo, closed, atol=0.03)
    np.testing.assert_allclose(p.kl(p), 0.0, atol=1e-7)


def test_gaussian_sampling_moments():
    dist = Gaussian(jnp.array([1.0, -2.0]), jnp.log(jnp.array([0.5, 2.0])))
    samples = np.asarray(jax.vmap(dist.sample)(jax.random.split(jax.random.key(2), 10_000)))
    np.testing.assert_allclose(samples.mean(0), [1.0, -2.0], atol=0.06)
    np.testing.assert_allclose(samples.std(0), [0.5, 2.0], rtol=0.05)


def test_distributions_cross_jit_and_vmap():
    @jax.jit
    def head(logits, mean):
        return Categorical(logits), Gaussian(mean, jnp.zeros(mean.shape[-1]))

    cat, gauss = head(jnp.asarray(LOGITS), jnp.ones((2, 3)))
    assert isinstance(cat, Categorical) and isinstance(gauss, Gaussian)
    per_row = jax.vmap(lambda d, a: d.log_prob(a))(cat, jnp.array([2, 0]))
    np.testing.assert_allclose(per_row, cat.log_prob(jnp.array([2, 0])), rtol=1e-6)
    gauss_rows = jax.vmap(lambda d: d.entropy(), in_axes=(Gaussian(0, None),))(gauss)
    np.testing.assert_allclose(gauss_rows, gauss.entropy(), rtol=1e-6)
