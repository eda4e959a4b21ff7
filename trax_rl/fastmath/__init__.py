"""Backend switch for array math: `fastmath.numpy` follows 'jax' or 'numpy'.

Owns the Trax `fastmath` surface: the `numpy` proxy, `random` (Trax's helpers, in
`fastmath/random.py`), the JAX transforms and ops Trax code calls through fastmath
(`grad`, `value_and_grad`, `jit`, `vmap`, `stop_gradient`, `logsumexp`, `expit`,
`sigmoid`, `erf`, `scan`, `cond`, `fori_loop`, `index_update`, ...), and
`use_backend` / `backend_name`.

`numpy` is a proxy, not a module, so a name bound before a backend switch
(`from trax_rl.fastmath import numpy as fastnp`) follows the switch: every
attribute lookup goes to the backend that is current at that moment.

The transforms are always JAX's: trax_rl runs on JAX only. Under the 'numpy'
backend `jit` is the identity (so plain-numpy code runs eagerly, as in Trax);
`grad`, `value_and_grad` and `vmap` still need functions written with JAX ops.
TensorFlow-numpy, Trax's third backend, is not supported.
"""

import enum
import threading

import jax
import jax.numpy as jnp
import jax.scipy.special as jax_special
import numpy as onp

from trax_rl.fastmath import random

__all__ = [
    "Backend",
    "abstract_eval",
    "backend",
    "backend_name",
    "cond",
    "custom_vjp",
    "disable_jit",
    "dynamic_slice",
    "dynamic_slice_in_dim",
    "dynamic_update_slice",
    "dynamic_update_slice_in_dim",
    "erf",
    "expit",
    "fori_loop",
    "global_device_count",
    "grad",
    "index_add",
    "index_max",
    "index_min",
    "index_update",
    "is_backend",
    "jit",
    "local_device_count",
    "logsumexp",
    "lt",
    "map",
    "numpy",
    "pmap",
    "psum",
    "random",
    "remat",
    "scan",
    "set_backend",
    "sigmoid",
    "sort_key_val",
    "stop_gradient",
    "top_k",
    "use_backend",
    "value_and_grad",
    "vjp",
    "vmap",
]


class Backend(str, enum.Enum):
    """Names of the backends `use_backend` accepts (Trax's enum, minus TFNP)."""

    JAX = "jax"
    NUMPY = "numpy"


_MODULES = {Backend.JAX: jnp, Backend.NUMPY: onp}
_ALLOWED = "'jax' or 'numpy'"

# The current backend is process-global like Trax's; the lock only keeps a
# context manager's save/restore of it consistent across threads.
_lock = threading.Lock()
_current = Backend.JAX


def _parse(name):
    """Maps 'jax', 'JAX', 'Backend.JAX' or a `Backend` to a `Backend`."""
    if isinstance(name, Backend):
        return name
    text = getattr(name, "value", name)
    if isinstance(text, str):
        key = text.strip().lower()
        if key.startswith("backend."):
            key = key[len("backend."):]
        for member in Backend:
            if key in (member.value, member.name.lower()):
                return member
        if key in ("tfnp", "tensorflow-numpy", "tensorflow_numpy", "tf"):
            raise ValueError(
                f"fastmath backend {name!r} is not supported: trax_rl runs on "
                f"JAX only (no TensorFlow-numpy); use {_ALLOWED}.")
    raise ValueError(
        f"unknown fastmath backend {name!r}; allowed values are {_ALLOWED}.")


def backend_name():
    """Returns the current backend's name: 'jax' or 'numpy'."""
    return _current.value


def backend():
    """Returns the module behind `fastmath.numpy` now: `jax.numpy` or `numpy`."""
    return _MODULES[_current]


def set_backend(name):
    """Switches the backend for the whole process; returns the previous name."""
    global _current
    new = _parse(name)
    with _lock:
        previous, _current = _current, new
    return previous.value


class use_backend:  # noqa: N801 -- lower case: Trax users call it like a function.
    """Switches the backend; as a context manager, switches back on exit.

    `use_backend('numpy')` switches at once (the seed's plain-call form);
    `with use_backend('numpy'): ...` restores the previous backend afterwards.
    """

    def __init__(self, name):
        self._previous = set_backend(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        set_backend(self._previous)
        return False


class _NumpyProxy:
    """Forwards attribute lookups to the current backend's numpy module."""

    def __getattr__(self, name):
        return getattr(_MODULES[_current], name)

    def __dir__(self):
        return dir(_MODULES[_current])

    def __repr__(self):
        return f"<trax_rl.fastmath.numpy -> {_MODULES[_current].__name__}>"


numpy = _NumpyProxy()
grad = jax.grad
value_and_grad = jax.value_and_grad
vmap = jax.vmap
vjp = jax.vjp
pmap = jax.pmap
psum = jax.lax.psum
stop_gradient = jax.lax.stop_gradient
remat = jax.checkpoint
disable_jit = jax.disable_jit
global_device_count = jax.device_count
local_device_count = jax.local_device_count
# Trax's fastmath ops (JAX backend), under Trax's names.
logsumexp = jax_special.logsumexp
expit = jax_special.expit
sigmoid = jax_special.expit
erf = jax_special.erf
scan = jax.lax.scan
map = jax.lax.map  # noqa: A001 -- Trax's name.
fori_loop = jax.lax.fori_loop
cond = jax.lax.cond
lt = jax.lax.lt
top_k = jax.lax.top_k
dynamic_slice = jax.lax.dynamic_slice
dynamic_slice_in_dim = jax.lax.dynamic_slice_in_dim
dynamic_update_slice = jax.lax.dynamic_update_slice
dynamic_update_slice_in_dim = jax.lax.dynamic_update_slice_in_dim


def index_update(x, idx, y):
    return jnp.asarray(x).at[idx].set(y)


def index_add(x, idx, y):
    return jnp.asarray(x).at[idx].add(y)


def index_min(x, idx, y):
    return jnp.asarray(x).at[idx].min(y)


def index_max(x, idx, y):
    return jnp.asarray(x).at[idx].max(y)


def sort_key_val(keys, values, dimension=-1):
    """Sorts `keys` along `dimension` and `values` with them: `(sorted_keys, values)`."""
    return jax.lax.sort_key_val(keys, values, dimension)


def custom_vjp(f, f_fwd, f_bwd, nondiff_argnums=()):
    """Trax's `custom_vjp(f, f_fwd, f_bwd)`: `f` with the backward pass `f_bwd`."""
    wrapped = jax.custom_vjp(lambda *args: f(*args), nondiff_argnums=nondiff_argnums)
    wrapped.defvjp(f_fwd, f_bwd)
    return wrapped


def abstract_eval(f):
    """Returns `f` evaluated on shapes: takes and returns `ShapeDtype`-like values."""
    def shape_fun(*args, **kwargs):
        return jax.eval_shape(f, *args, **kwargs)
    return shape_fun


def is_backend(name):
    """Whether the current backend is `name` ('jax' or 'numpy')."""
    return _current is _parse(name)


def jit(fun=None, **kwargs):
    """`jax.jit` on the 'jax' backend; the identity on 'numpy'.

    Works as `jit(f)`, `jit(f, static_argnums=...)` and as a decorator with
    keyword arguments (`@jit(static_argnums=0)`).
    """
    if fun is None:
        return lambda f: jit(f, **kwargs)
    if _current is Backend.NUMPY:
        return fun
    return jax.jit(fun, **kwargs)


def batch_shardings(n_devices=None):
    """`(n_devices, batch, replicated)`: shardings over a one-axis mesh of the first
    `n_devices` local devices (all by default), splitting axis 0 or copying everything."""
    devices = jax.local_devices()
    n = len(devices) if n_devices is None else n_devices
    if not isinstance(n, int) or not 1 <= n <= len(devices):
        raise ValueError(f"n_devices must be an int in 1..{len(devices)} (the local devices), "
                         f"got {n_devices!r}")
    mesh = jax.sharding.Mesh(onp.array(devices[:n]), ("batch",))
    return (n, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch")),
            jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
