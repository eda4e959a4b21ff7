"""Session-wide test setup: one JAX compilation cache shared by every test and worker.

Many tests compile the same small programs (the experiments' tiny PPO runs, the same
layer under `jit`); a persistent cache in a fresh folder lets the second compile of
each be a file read, across pytest-xdist workers too. The folder is new for every
session and removed after it, so no test depends on an earlier session, and a cache
hit returns the very executable a compile would have built.

The fast tests also ask XLA for its cheapest compile (`jax_disable_most_optimizations`,
in this process and, through the environment, in the scripts they start): they check
what programs compute, not how fast, and compiling is most of their time (the seed-
batching and Reformer tests took 36 s instead of 71 s). The slow learning runs keep the
default optimizations, and so do fast tests marked `xla_optimized`, whose unoptimized
programs run longer than optimizing them takes (the pixel PPO run, under load: 28 s
instead of 16 s).

Every test process, and every script a test starts, compiles with XLA:CPU's classic
elemental emitters instead of its newer fusion emitters
(`--xla_cpu_use_fusion_emitters=false` in `XLA_FLAGS`, read when the backend starts, so
it is set here, before any test runs a computation). The tests' programs compile faster
and run slower (a PPO probe: 1.84 s instead of 2.93 s to compile, 0.71 s instead of 0.43 s
to run; experiments/benchmarks/xla_options.py), and the fast suite took 2 min 35 s
instead of 4 min 18 s. Tests that start scripts with flags of their own append them to
this `XLA_FLAGS`.
"""

import os
import shutil
import tempfile

import jax
import pytest

_FAST_COMPILE_FLAG = "--xla_cpu_use_fusion_emitters=false"
if _FAST_COMPILE_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE_FLAG}".strip()


_CACHE_ENV = "TRAX_RL_TEST_JAX_CACHE"
_CHEAP_ENV = "JAX_DISABLE_MOST_OPTIMIZATIONS"


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # The controller (or a run without xdist).
        config._jax_cache_dir = tempfile.mkdtemp(prefix="trax_rl_test_jax_cache_")
    path = (config.workerinput.get(_CACHE_ENV) if hasattr(config, "workerinput")
            else config._jax_cache_dir)
    if path:
        os.environ[_CACHE_ENV] = path  # Scripts that tests start take it as --compilation_cache.
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def _cheapest_compiles(on):
    if on:
        os.environ[_CHEAP_ENV] = "1"
    else:
        os.environ.pop(_CHEAP_ENV, None)
    jax.config.update("jax_disable_most_optimizations", on)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before the test's fixtures, so that a module-scoped reference run compiles as the
    # tests comparing against it do (bit-exact comparisons need the same programs).
    _cheapest_compiles(item.get_closest_marker("slow") is None
                       and item.get_closest_marker("xla_optimized") is None)


def pytest_runtest_teardown(item):
    _cheapest_compiles(False)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):  # pytest-xdist: hand the folder to each worker.
    node.workerinput[_CACHE_ENV] = node.config._jax_cache_dir


def pytest_unconfigure(config):
    path = getattr(config, "_jax_cache_dir", None)
    if path:
        shutil.rmtree(path, ignore_errors=True)
