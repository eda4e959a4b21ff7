"""Activation functions as layers, with Trax's names, arguments and formulas.

All are weightless `Fn`s except `ThresholdedLinearUnit`, which learns its threshold
(and is written in Trax's style, reading `self.weights`).
"""

import jax
from jax import numpy as jnp

from trax_rl.layers import base


def Relu():  # pylint: disable=invalid-name
    """`max(x, 0)`."""
    return base.Fn("Relu", jax.nn.relu)


def ParametricRelu(a=1.0):  # pylint: disable=invalid-name
    """`max(a * x, 0)` (Trax's definition: the slope `a` applies to positive inputs)."""
    return base.Fn("ParametricRelu", lambda x: jnp.maximum(a * x, jnp.zeros_like(x)))


def LeakyRelu(a=0.01):  # pylint: disable=invalid-name
    """`x` for `x >= 0`, else `a * x`."""
    return base.Fn("LeakyRelu", lambda x: jnp.where(x >= 0, x, a * x))


def Elu(a=1.0):  # pylint: disable=invalid-name
    """`x` for `x > 0`, else `a * (exp(x) - 1)`."""
    return base.Fn("Elu", lambda x: jnp.where(x > 0, x, a * jnp.expm1(x)))


def Selu(alpha=1.6732632423543772848170429916717,  # pylint: disable=invalid-name
         lmbda=1.0507009873554804934193349852946):
    """`lmbda * Elu(alpha)(x)` (Klambauer et al. 2017)."""
    return base.Fn("Selu", lambda x: lmbda * jnp.where(x > 0, x, alpha * jnp.expm1(x)))


def Gelu(approximate=False):  # pylint: disable=invalid-name
    """GELU `x * Phi(x)`; exact (erf) as in Trax, the tanh form with `approximate=True`."""
    return base.Fn("Gelu", lambda x: jax.nn.gelu(x, approximate=approximate))


def FastGelu():  # pylint: disable=invalid-name
    """The tanh approximation of GELU: `x/2 * (1 + tanh(0.79788 x (1 + 0.044715 x^2)))`."""
    return base.Fn("FastGelu", lambda x: jax.nn.gelu(x, approximate=True))


def Sigmoid():  # pylint: disable=invalid-name
    return base.Fn("Sigmoid", jax.nn.sigmoid)


def Tanh():  # pylint: disable=invalid-name
    return base.Fn("Tanh", jnp.tanh)


def HardSigmoid():  # pylint: disable=invalid-name
    """`max(0, min(1, 1 + x))` (Trax's formula, a ramp from -1 to 0)."""
    return base.Fn("HardSigmoid", lambda x: jnp.maximum(0, jnp.minimum(1, 1 + x)))


def HardTanh():  # pylint: disable=invalid-name
    """`max(-1, min(1, x))`."""
    return base.Fn("HardTanh", lambda x: jnp.maximum(-1, jnp.minimum(1, x)))


def Softplus():  # pylint: disable=invalid-name
    """`log(1 + exp(x))`."""
    return base.Fn("Softplus", lambda x: jnp.logaddexp(x, 0.0))


def Exp():  # pylint: disable=invalid-name
    return base.Fn("Exp", jnp.exp)


def Log():  # pylint: disable=invalid-name
    return base.Fn("Log", jnp.log)


def Swish():  # pylint: disable=invalid-name
    """`x * sigmoid(x)`."""
    return base.Fn("Swish", lambda x: x * jax.nn.sigmoid(x))


def Glu():  # pylint: disable=invalid-name
    """Gated linear unit: splits the last axis into halves `a, b` and returns `a * sigmoid(b)`."""
    def f(x):
        if x.shape[-1] % 2:
            raise ValueError(f"Glu needs an even last axis, got shape {tuple(x.shape)}")
        a, b = jnp.split(x, 2, axis=-1)
        return a * jax.nn.sigmoid(b)
    return base.Fn("Glu", f)


class ThresholdedLinearUnit(base.Layer):
    """`max(x, threshold)` with a learned scalar threshold, zero at init (Srivastava
    et al. 2019, arXiv:1911.09737)."""

    def forward(self, x):
        return jnp.maximum(x, self.weights)

    def init_weights_and_state(self, input_signature):
        del input_signature
        self.weights = jnp.zeros((), jnp.float32)
