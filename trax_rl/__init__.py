"""trax_rl: deep learning and reinforcement learning with clear code and speed, on JAX.

Subpackages load on first use (`trax_rl.layers`, `trax_rl.envs`, ...), so `import
trax_rl` stays light and the core never imports the packages built on top of it.
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
      "fastmath": "trax_rl.fastmath",
      "shapes": "trax_rl.shapes",
      "optimizers": "trax_rl.optimizers",
      "checkpoint": "trax_rl.checkpoint",
      "data": "trax_rl.data",
      "writers": "trax_rl.writers",
      "train_state": "trax_rl.train_state",
      "running_stats": "trax_rl.running_stats",
      "runs": "trax_rl.runs",
      "layers": "trax_rl.layers",
      "models": "trax_rl.layers.models",
      "supervised": "trax_rl.supervised",
      "envs": "trax_rl.envs",
      "agents": "trax_rl.agents",
}


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'trax_rl' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
