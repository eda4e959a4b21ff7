"""Pure policy and value losses for REINFORCE, A2C, PPO and AWR, plus their metrics.

Every loss takes flat `[N]` arrays (a minibatch, or a flattened `[T * B]` rollout) and
scalar hyperparameters, and returns `(loss, metrics)`: a scalar to minimize and a dict
of scalar diagnostics for dashboards. Advantages, targets and weights are wrapped in
`stop_gradient`, so only the quantity the loss is meant to train receives gradient.
"""

import jax
import jax.numpy as jnp


def policy_gradient_loss(log_probs, advantages):
    """REINFORCE / A2C policy loss  L = -mean_i(log π(a_i|s_i) · A_i).

    Williams, "Simple Statistical Gradient-Following Algorithms for Connectionist
    Reinforcement Learning", 1992; Mnih et al., "Asynchronous Methods for Deep RL", 2016.
    """
    advantages = jax.lax.stop_gradient(advantages)
    loss = -jnp.mean(log_probs * advantages)
    return loss, {"policy_loss": loss}


def ppo_clip_loss(log_probs, old_log_probs, advantages, clip_eps):
    """PPO clipped surrogate  L = -mean(min(ρ A, clip(ρ, 1 - ε, 1 + ε) A)),  ρ = π/π_old.

    Metrics: `approx_kl` = mean((ρ - 1) - log ρ), the unbiased, non-negative estimator
    of KL(π_old || π) (J. Schulman, "Approximating KL Divergence", 2020; as in CleanRL),
    and `clip_fraction` = fraction of samples with |ρ - 1| > ε.

    Schulman et al., "Proximal Policy Optimization Algorithms", 2017, eq. (7).
    """
    advantages = jax.lax.stop_gradient(advantages)
    log_ratio = log_probs - jax.lax.stop_gradient(old_log_probs)
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    loss = -jnp.mean(jnp.minimum(unclipped, clipped))
    log_ratio, ratio = jax.lax.stop_gradient((log_ratio, ratio))
    metrics = {
        "policy_loss": loss,
        "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
        "clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > clip_eps).astype(ratio.dtype)),
    }
    return loss, metrics


def value_loss(values, targets, old_values=None, clip_eps=None):
    """Value regression  L = ½ mean((V - G)²), optionally PPO-clipped.

    With `old_values` and `clip_eps`:  V_clip = V_old + clip(V - V_old, -ε, ε) and
    L = ½ mean(max((V - G)², (V_clip - G)²)) (the pessimistic choice of OpenAI
    baselines' PPO2; see Engstrom et al., "Implementation Matters in Deep Policy
    Gradients", 2020, who find it rarely helps).
    """
    if (old_values is None) != (clip_eps is None):
        raise ValueError(
            "value clipping needs both old_values and clip_eps; got "
            f"old_values={'set' if old_values is not None else None}, clip_eps={clip_eps}."
        )
    targets = jax.lax.stop_gradient(targets)
    squared = (values - targets) ** 2
    if old_values is not None:
        old_values = jax.lax.stop_gradient(old_values)
        clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
        squared = jnp.maximum(squared, (clipped - targets) ** 2)
    loss = 0.5 * jnp.mean(squared)
    return loss, {"value_loss": loss}


def entropy_loss(entropy):
    """L = -mean(H): minimizing it with a positive coefficient raises the entropy."""
    mean_entropy = jnp.mean(entropy)
    return -mean_entropy, {"entropy": mean_entropy}


def awr_policy_loss(log_probs, advantages, beta, max_weight):
    """Advantage-weighted regression  L = -mean(min(exp(A / β), w_max) · log π(a|s)).

    The weights are constants (stop_gradient). They are computed as
    exp(min(A / β, log w_max)), equal to the formula but never overflowing to inf.
    Metrics: `mean_weight`, and `clipped_weight_fraction` (weights at w_max).

    Peng et al., "Advantage-Weighted Regression: Simple and Scalable Off-Policy
    Reinforcement Learning", 2019, eq. (9) and §5 (weight clipping).
    """
    log_max_weight = jnp.log(max_weight)
    scaled = jax.lax.stop_gradient(advantages) / beta
    weights = jnp.exp(jnp.minimum(scaled, log_max_weight))
    loss = -jnp.mean(weights * log_probs)
    metrics = {
        "policy_loss": loss,
        "mean_weight": jnp.mean(weights),
        "clipped_weight_fraction": jnp.mean((scaled >= log_max_weight).astype(weights.dtype)),
    }
    return loss, metrics


def explained_variance(values, targets):
    """EV = 1 - Var[G - V] / Var[G]: 1 is a perfect critic, 0 no better than a constant.

    Returns 0 (not nan) when the targets are constant, where EV is undefined, so a
    NaN/inf guard over metric pytrees never trips on it.
    """
    values, targets = jax.lax.stop_gradient((values, targets))
    var_targets = jnp.var(targets)
    safe_var = jnp.where(var_targets > 0, var_targets, 1.0)
    return jnp.where(var_targets > 0, 1.0 - jnp.var(targets - values) / safe_var, 0.0)


def normalize(x, eps=1e-8):
    """(x - mean(x)) / (std(x) + eps), e.g. per-minibatch advantage normalization."""
    return (x - jnp.mean(x)) / (jnp.std(x) + eps)
