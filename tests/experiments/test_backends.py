"""experiments.backends: compiling a run's programs off the main thread."""

import time

import jax
import jax.numpy as jnp
import pytest

from experiments import backends


class _Logged:
    """A `Lowered` that logs when its compile starts and ends (the first ones slowly)."""

    def __init__(self, lowered, log, name):
        self.lowered, self.log, self.name = lowered, log, name

    def compile(self):
        self.log.append(f"compile {self.name}")
        if self.name != "last":
            time.sleep(0.2)
        compiled = self.lowered.compile()
        self.log.append(f"compiled {self.name}")
        return compiled


def _lowering(fn, x, log, name):
    def lower():
        log.append(f"lower {name}")
        return _Logged(jax.jit(fn).lower(x), log, name)
    return lower


def test_lowers_in_order_and_compiles_the_last_once_the_others_are_compiled():
    log, x = [], jnp.arange(3.0)
    futures = backends.compile_in_background(
        _lowering(lambda a: a + 1, x, log, "first"), _lowering(lambda a: a * 2, x, log, "second"),
        last=_lowering(lambda a: -a, x, log, "last"))
    results = [f.result(timeout=60)(x).tolist() for f in futures]
    assert results == [[1.0, 2.0, 3.0], [0.0, 2.0, 4.0], [-0.0, -1.0, -2.0]]
    lowers = [entry for entry in log if entry.startswith("lower")]
    assert lowers == ["lower first", "lower second", "lower last"]
    assert log.index("compile last") > max(log.index("compiled first"),
                                           log.index("compiled second"))


def test_a_failing_lowering_fails_its_future_only_and_nothing_waits_forever():
    def broken():
        raise ValueError("bad program")

    log, x = [], jnp.ones(2)
    good, bad, last = backends.compile_in_background(
        _lowering(jnp.sin, x, log, "good"), broken, last=_lowering(jnp.cos, x, log, "last"))
    with pytest.raises(ValueError, match="bad program"):
        bad.result(timeout=60)
    assert good.result(timeout=60)(x).shape == (2,)
    assert last.result(timeout=60)(x).shape == (2,)
