"""Return and advantage estimators over one stream of experience (rlax style).

Each estimator takes rank-1 time series `[T]` from ONE environment and runs a
reverse `lax.scan`. Rollouts are time-major `[T, B]`; batch them with
`batched(gae)(...)` or, equivalently, `jax.vmap(gae, in_axes=(1, 1, 1, 1, 1, None),
out_axes=1)`.

Conventions, per step t of the stream (the step taken from obs_t):

- `rewards[t]`: r_t, the reward of step t.
- `values[t]`: V(obs_t).
- `next_values[t]`: V of the observation reached by step t, BEFORE any auto-reset.
  For a truncated step this is V(final_obs), not V of the next episode's first
  observation; for a terminated step its value is irrelevant (discount is 0).
- `discounts[t] = gamma * (1 - terminated[t])`: how much of the future after step t
  counts. Truncation keeps the discount, so a time-limit cut still bootstraps.
- `continues[t] = 1 - (terminated[t] | truncated[t])`: whether step t + 1 of the stream
  belongs to the same episode. It cuts the λ-recursion at every episode boundary,
  so no return ever leaks from one episode into the next.

When `continues[t] == 1`, `next_values[t]` and `values[t + 1]` are V of the same
observation; the estimators only read `next_values`, so the two may come from
different forward passes without harm. The last step of the stream always
bootstraps from `next_values[T - 1]`.
"""

import inspect

import jax
import jax.numpy as jnp


def _check_stream(name_to_array, lambda_=None):
    """Checks rank-1, equal-length float streams; returns them in one float dtype."""
    arrays = {name: jnp.asarray(x) for name, x in name_to_array.items()}
    shape = None
    for name, x in arrays.items():
        if x.ndim != 1:
            raise ValueError(
                f"{name} must be a rank-1 time series [T], got shape {x.shape}; "
                "batch over environments with batched(fn) or jax.vmap(fn, in_axes=1)."
            )
        if shape is None:
            shape = x.shape
        elif x.shape != shape:
            raise ValueError(
                f"{name} has shape {x.shape} but the other streams have {shape}; "
                "all inputs must cover the same T steps."
            )
    # `continues` may be a bool mask; every other stream must already be float so an
    # integer reward array never silently truncates the returns.
    floats = {name: x for name, x in arrays.items() if name != "continues"}
    for name, x in floats.items():
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"{name} must be floating point, got dtype {x.dtype}.")
    dtype = jnp.result_type(*floats.values())
    out = {name: x.astype(dtype) for name, x in arrays.items()}
    if lambda_ is not None:
        lam = jnp.asarray(lambda_, dtype)
        if lam.ndim not in (0, 1) or (lam.ndim == 1 and lam.shape != shape):
            raise ValueError(f"lambda_ must be a scalar or shape {shape}, got {lam.shape}.")
        out["lambda_"] = jnp.broadcast_to(lam, shape)
    return out


def td_lambda(rewards, next_values, discounts, continues, lambda_):
    """λ-returns G^λ_t over one stream of T steps.

        G^λ_t = r_t + d_t * [(1 - λ c_t) * v'_t + λ c_t * G^λ_{t+1}],   G^λ_T := v'_{T-1}

    with d = `discounts`, c = `continues`, v' = `next_values` (see the module docstring).
    λ = 0 gives one-step TD targets r_t + d_t v'_t; λ = 1 gives Monte Carlo returns
    that bootstrap only where an episode was truncated or the stream ends.

    Reference: Sutton & Barto, "Reinforcement Learning: An Introduction" (2018),
    §12.1 (the λ-return); the recursive form follows rlax `lambda_returns`.

    Args:
        rewards, next_values, discounts, continues: `[T]` arrays.
        lambda_: scalar or `[T]` array in [0, 1].

    Returns:
        `[T]` λ-returns, in the inputs' float dtype.
    """
    s = _check_stream(
        dict(rewards=rewards, next_values=next_values, discounts=discounts,
             continues=continues),
        lambda_,
    )

    def step(next_return, xs):
        r, v_next, d, c, lam = xs
        g = r + d * ((1.0 - lam * c) * v_next + lam * c * next_return)
        return g, g

    xs = (s["rewards"], s["next_values"], s["discounts"], s["continues"], s["lambda_"])
    _, returns = jax.lax.scan(step, s["next_values"][-1], xs, reverse=True)
    return returns


def discounted_returns(rewards, next_values, discounts, continues):
    """Discounted (Monte Carlo / n-step) returns G_t over one stream of T steps.

        G_t = r_t + d_t * [c_t * G_{t+1} + (1 - c_t) * v'_t],   G_T := v'_{T-1}

    i.e. `td_lambda` with λ = 1: the sum of discounted rewards to the end of the
    episode, bootstrapping from `next_values` only where the episode was truncated or
    the stream ends mid-episode (an n-step return with n = steps left in the stream).
    For pure Monte Carlo without a critic pass `next_values = jnp.zeros_like(rewards)`;
    truncation then counts as termination.

    Reference: Sutton & Barto (2018), §3.3 (returns) and §7.1 (n-step returns).

    Args:
        rewards, next_values, discounts, continues: `[T]` arrays.

    Returns:
        `[T]` returns.
    """
    return td_lambda(rewards, next_values, discounts, continues, 1.0)


def gae(rewards, values, next_values, discounts, continues, lambda_):
    """Generalized Advantage Estimation A_t over one stream of T steps.

        δ_t = r_t + d_t * v'_t - v_t
        A_t = δ_t + d_t * λ * c_t * A_{t+1},   A_T := 0

    with v = `values`, v' = `next_values`, d = `discounts`, c = `continues` (see the
    module docstring). Value targets are `advantages + values`; they equal
    `td_lambda(rewards, next_values, discounts, continues, lambda_)` whenever
    `values[t + 1] == next_values[t]` inside an episode.

    Reference: Schulman et al., "High-Dimensional Continuous Control Using Generalized
    Advantage Estimation", ICLR 2016, eq. (16).

    Args:
        rewards, values, next_values, discounts, continues: `[T]` arrays.
        lambda_: scalar or `[T]` array in [0, 1].

    Returns:
        `[T]` advantages.
    """
    s = _check_stream(
        dict(rewards=rewards, values=values, next_values=next_values,
             discounts=discounts, continues=continues),
        lambda_,
    )
    deltas = s["rewards"] + s["discounts"] * s["next_values"] - s["values"]

    def step(next_advantage, xs):
        delta, d, c, lam = xs
        a = delta + d * lam * c * next_advantage
        return a, a

    xs = (deltas, s["discounts"], s["continues"], s["lambda_"])
    _, advantages = jax.lax.scan(step, jnp.zeros((), deltas.dtype), xs, reverse=True)
    return advantages


def batched(fn):
    """Lifts a one-stream estimator to time-major `[T, B]` inputs and outputs.

    Arguments of rank >= 2 are mapped over axis 1 (the batch); scalars and rank-1
    arguments (e.g. a shared `lambda_`) are broadcast to every stream. Keyword
    arguments are accepted: they are bound to positions first, because `jax.vmap`
    would otherwise map every keyword argument over axis 0.

        advantages = batched(gae)(rewards, values, next_values, discounts,
                                  continues, lambda_=0.95)   # [T, B]
    """
    signature = inspect.signature(fn)

    def wrapped(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        in_axes = tuple(1 if jnp.ndim(a) >= 2 else None for a in bound.args)
        return jax.vmap(fn, in_axes=in_axes, out_axes=1)(*bound.args)

    wrapped.__name__ = f"batched_{fn.__name__}"
    wrapped.__doc__ = f"`{fn.__name__}` over time-major [T, B] inputs.\n\n{fn.__doc__}"
    return wrapped
