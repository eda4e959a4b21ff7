"""Trax-named optimizers and learning-rate schedules, built from optax.

Every optimizer returns an `optax.GradientTransformation` with Trax's default
hyperparameters; the update math is optax's, composed to match Trax's formulas.
`learning_rate` is a float or any optax schedule (a function of the step count).
They are `Optimizer`s, which remember how they were built, so that `with_schedule`
(what a `TrainTask`'s `lr_schedule` uses) can replace their learning rate with a
schedule, as Trax's training loop sets `opt_params['learning_rate']` at every step.

Conventions shared by all of them:

- `clip_grad_norm`, where offered, chains `optax.clip_by_global_norm` first,
  as Trax clips the whole gradient tree before the update.
- `weight_decay_rate` follows Trax's optimizers, which compute
  `w_new = (1 - weight_decay_rate) * w - lr * update`: the decay is decoupled
  from the gradient statistics (as in AdamW) and NOT multiplied by the learning
  rate (unlike `optax.adamw`). It is expressed as an optax chain ending in
  `add_decayed_weights`, so Trax configurations behave as they did in Trax.
- Schedules are called by optax with the number of updates already applied
  (0 for the first update). Trax numbered training steps from 1, so the
  Trax-named `warmup_and_rsqrt_decay` evaluates Trax's formula at `count + 1`;
  the others (`linear`, `cosine`, `warmup_cosine`) are optax's own.
"""

import math

import jax.numpy as jnp
import optax

__all__ = [
    "Adafactor",
    "Adam",
    "Momentum",
    "Optimizer",
    "RMSProp",
    "SGD",
    "constant",
    "cosine",
    "linear",
    "warmup_and_rsqrt_decay",
    "warmup_cosine",
    "with_schedule",
]


# ----------------------------------------------------------------- checks ---

def _check_learning_rate(learning_rate):
    if callable(learning_rate):
        return
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) \
            or not math.isfinite(learning_rate) or learning_rate < 0:
        raise ValueError(
            f"learning_rate={learning_rate!r} is invalid; expected a finite float "
            f">= 0 or an optax schedule (a function of the step count).")


def _check_range(name, value, low, high, high_inclusive=False):
    """Checks low <= value < high (or <= high when high_inclusive)."""
    bad = not isinstance(value, (int, float)) or isinstance(value, bool) \
        or not math.isfinite(value) or value < low \
        or (value > high if high_inclusive else value >= high)
    if bad:
        closing = "]" if high_inclusive else ")"
        raise ValueError(
            f"{name}={value!r} is invalid; allowed range is [{low}, {high}{closing}.")


def _check_nonnegative(name, value):
    _check_range(name, value, 0.0, math.inf)


def _check_clip(clip_grad_norm):
    if clip_grad_norm is not None and (
            not isinstance(clip_grad_norm, (int, float)) or not clip_grad_norm > 0):
        raise ValueError(
            f"clip_grad_norm={clip_grad_norm!r} is invalid; expected a float > 0 "
            f"or None (no clipping).")


def _finish(core, weight_decay_rate=0.0, clip_grad_norm=None):
    """Wraps `core` (which yields `-lr * update`) with Trax's decay and clipping."""
    parts = []
    if clip_grad_norm is not None:
        parts.append(optax.clip_by_global_norm(clip_grad_norm))
    parts.append(core)
    if weight_decay_rate:
        # `core`'s updates already carry the minus sign, so subtracting
        # rate * w means adding decayed weights with a negative rate.
        parts.append(optax.add_decayed_weights(-weight_decay_rate))
    return parts[0] if len(parts) == 1 else optax.chain(*parts)


class Optimizer(optax.GradientTransformation):
    """An optax `GradientTransformation` that knows how it was built.

    `build(learning_rate)` builds it again with another learning rate (what
    `with_schedule` does); `learning_rate` is the one it was built with.
    """

    build = None
    learning_rate = None


def _built(build, learning_rate):
    optimizer = Optimizer(*build(learning_rate))
    optimizer.build, optimizer.learning_rate = build, learning_rate
    return optimizer


def with_schedule(optimizer, schedule):
    """`optimizer` built again with `schedule` as its learning rate.

    This is Trax's `lr_schedule` (what a `TrainTask`'s uses): the schedule replaces the
    rate the optimizer was built with, and Trax's weight decay (not scaled by the rate)
    is unchanged. Like every optax schedule, `schedule` gets the number of updates
    already applied (0 first). `optimizer` must come from this module.
    """
    if getattr(optimizer, "build", None) is None:
        raise TypeError(
            f"an lr_schedule replaces the optimizer's learning rate, which only the "
            f"optimizers of trax_rl.optimizers (Adam, SGD, ...) can do; got "
            f"{type(optimizer).__name__}: give the schedule to it as its learning rate "
            f"instead")
    if callable(optimizer.learning_rate):
        raise ValueError(
            "the optimizer already follows a learning-rate schedule; give the schedule "
            "either to the optimizer (learning_rate=) or as lr_schedule, not both")
    return _built(optimizer.build, schedule)


# ------------------------------------------------------------- optimizers ---

def SGD(learning_rate=0.0001):  # noqa: N802 -- Trax's class names.
    """Plain SGD: `w -= lr * g` (Trax's `SGD`, no weight decay)."""
    _check_learning_rate(learning_rate)
    return _built(optax.sgd, learning_rate)


def Momentum(learning_rate=0.01, mass=0.9, weight_decay_rate=1e-5,  # noqa: N802
             nesterov=True):
    """SGD with (Nesterov) momentum, Trax's defaults and update rule.

    `v = mass * v + g`; the step is `v` or, with Nesterov, `mass * v + g`;
    `w = (1 - weight_decay_rate) * w - lr * step`.
    """
    _check_learning_rate(learning_rate)
    _check_range("mass", mass, 0.0, 1.0)
    _check_nonnegative("weight_decay_rate", weight_decay_rate)
    def build(learning_rate):
        core = optax.chain(optax.trace(decay=mass, nesterov=nesterov),
                           optax.scale_by_learning_rate(learning_rate))
        return _finish(core, weight_decay_rate)

    return _built(build, learning_rate)


def Adam(learning_rate=0.0001, weight_decay_rate=1e-5, b1=0.9, b2=0.999,  # noqa: N802
         eps=1e-5, clip_grad_norm=None):
    """Adam (https://arxiv.org/abs/1412.6980) with Trax's defaults.

    `w = (1 - weight_decay_rate) * w - lr * m_hat / (sqrt(v_hat) + eps)`; with
    `weight_decay_rate=0` this is exactly `optax.adam(lr, b1, b2, eps)`.
    """
    _check_learning_rate(learning_rate)
    _check_range("b1", b1, 0.0, 1.0)
    _check_range("b2", b2, 0.0, 1.0)
    _check_nonnegative("eps", eps)
    _check_nonnegative("weight_decay_rate", weight_decay_rate)
    _check_clip(clip_grad_norm)
    return _built(lambda learning_rate: _finish(
        optax.adam(learning_rate, b1=b1, b2=b2, eps=eps), weight_decay_rate, clip_grad_norm),
        learning_rate)


def RMSProp(learning_rate=0.001, gamma=0.9, eps=1e-8,  # noqa: N802
            clip_grad_norm=None):
    """RMSProp as in Trax: `s = gamma*s + (1-gamma)*g^2; w -= lr*g/(sqrt(s)+eps)`.

    Trax starts the running mean `s` at ones and adds eps outside the square
    root; optax's `initial_scale` and `eps_in_sqrt` say the same.
    """
    _check_learning_rate(learning_rate)
    _check_range("gamma", gamma, 0.0, 1.0)
    _check_nonnegative("eps", eps)
    _check_clip(clip_grad_norm)
    return _built(lambda learning_rate: _finish(
        optax.rmsprop(learning_rate, decay=gamma, eps=eps, initial_scale=1.0,
                      eps_in_sqrt=False), clip_grad_norm=clip_grad_norm), learning_rate)


def Adafactor(learning_rate=0.05, factored=True,  # noqa: N802
              multiply_by_parameter_scale=True, do_clipping=True,
              do_momentum=False, beta1=0.0, decay_rate=0.8, clipping_threshold=1.0,
              weight_decay_rate=1e-5, epsilon1=1e-30, min_dim_size_to_factor=128):
    """Adafactor (https://arxiv.org/abs/1804.04235) via `optax.adafactor`.

    Trax's arguments map onto optax's; two differences remain. Trax factors every
    matrix, optax only those whose dims are >= `min_dim_size_to_factor` (exposed,
    set it to 1 for Trax's behaviour). Trax's `epsilon2` (floor of the parameter
    scale) is fixed at its default 1e-3 inside optax and is not an argument.
    """
    _check_learning_rate(learning_rate)
    _check_range("beta1", beta1, 0.0, 1.0)
    _check_range("decay_rate", decay_rate, 0.0, 1.0, high_inclusive=True)
    _check_nonnegative("weight_decay_rate", weight_decay_rate)
    _check_nonnegative("epsilon1", epsilon1)
    if do_clipping:
        _check_range("clipping_threshold", clipping_threshold, 1.0, math.inf)
    return _built(lambda learning_rate: optax.adafactor(
        learning_rate,
        min_dim_size_to_factor=min_dim_size_to_factor,
        decay_rate=decay_rate,
        multiply_by_parameter_scale=multiply_by_parameter_scale,
        clipping_threshold=clipping_threshold if do_clipping else None,
        momentum=beta1 if do_momentum else None,
        weight_decay_rate=weight_decay_rate or None,
        eps=epsilon1,
        factored=factored), learning_rate)


# -------------------------------------------------------------- schedules ---

def constant(value):
    """The schedule `lr(count) = value`."""
    _check_learning_rate(value)
    return optax.constant_schedule(value)


def warmup_and_rsqrt_decay(n_warmup_steps, max_value):
    """Trax's linear warmup then reciprocal-square-root decay.

    With Trax's 1-based step `t = count + 1`:
    `lr = max_value * t / n_warmup_steps` for `t <= n_warmup_steps`, then
    `lr = max_value * sqrt(n_warmup_steps / t)`; both pieces equal `max_value`
    at `t = n_warmup_steps`, so `min` of the two is the whole formula.
    """
    if not isinstance(n_warmup_steps, int) or n_warmup_steps < 1:
        raise ValueError(
            f"n_warmup_steps={n_warmup_steps!r} is invalid; expected an int >= 1.")
    _check_learning_rate(max_value)

    def schedule(count):
        t = jnp.asarray(count, jnp.float32) + 1.0
        return max_value * jnp.minimum(t / n_warmup_steps,
                                       jnp.sqrt(n_warmup_steps / t))

    return schedule


def linear(init_value, end_value, transition_steps, transition_begin=0):
    """Linear interpolation from `init_value` to `end_value` (optax's)."""
    _check_learning_rate(init_value)
    _check_learning_rate(end_value)
    return optax.linear_schedule(init_value, end_value, transition_steps,
                                 transition_begin)


def cosine(init_value, decay_steps, alpha=0.0):
    """Cosine decay from `init_value` to `alpha * init_value` (optax's)."""
    _check_learning_rate(init_value)
    _check_range("alpha", alpha, 0.0, 1.0, high_inclusive=True)
    return optax.cosine_decay_schedule(init_value, decay_steps, alpha)


def warmup_cosine(init_value, peak_value, warmup_steps, decay_steps,
                  end_value=0.0):
    """Linear warmup to `peak_value`, then cosine decay to `end_value` (optax's).

    `decay_steps` counts the whole schedule, warmup included (optax's rule).
    """
    for name, value in (("init_value", init_value), ("peak_value", peak_value),
                        ("end_value", end_value)):
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name}={value!r} is invalid; expected a float >= 0.")
    if decay_steps < warmup_steps:
        raise ValueError(
            f"decay_steps={decay_steps!r} is invalid; it counts the warmup too, so "
            f"it must be >= warmup_steps={warmup_steps!r}.")
    return optax.warmup_cosine_decay_schedule(init_value, peak_value, warmup_steps,
                                              decay_steps, end_value)
