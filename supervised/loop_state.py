"""The device side of the training Loop: state, jitted steps, sharding, run files.

`Runner` owns what lives on the devices between steps, one pytree:

    {"weights": model params, "state": model layer state,
     "opt_states": (one optax state per TrainTask), "step": int32, "rng": PRNG key,
     "bad_step": int32, the first step whose loss or gradient was not finite (0: none)}

and one jitted program per train task (`trax_rl.train_state.gradient_step`, the guarded
optax step shared with the agents, on the model plus its loss layer through `pure_fn`,
with the model's layer state) and per eval task
(the eval model plus its metric layers). With `n > 1` devices the batch is sharded
over a one-axis mesh and everything else is replicated: XLA inserts the gradient
all-reduce, so the step is the one-device step computed in pieces.

The "weights" and "state" keys are `Layer.save_to_file`'s layout, so a Loop
checkpoint loads with `model.init_from_file(path, weights_only=True)`.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

from trax_rl import fastmath
from trax_rl import optimizers
from trax_rl import runs
from trax_rl import shapes
from trax_rl import train_state
from trax_rl import writers

__all__ = ["Runner", "default_writer"]


def _stack(outputs, n_out):
    return [outputs] if n_out == 1 else list(outputs)


def _layer_input(stack, n_in):
    return stack[0] if n_in == 1 else tuple(stack[:n_in])


def _check_stack(model, end, n_items):
    if end.n_in > n_items:
        raise ValueError(f"{end.name} takes {end.n_in} inputs but the model's outputs and the "
                         f"batch's targets/weights give {n_items}")


class _End:
    """A loss or metric layer on top of a model, with its own (usually empty) weights."""

    def __init__(self, model, layer, sample_batch, model_sig, model_weights, model_state):
        n_in = model.n_in
        out_sig = model.output_signature(model_sig, model_weights, model_state)
        stack = _stack(out_sig, model.n_out) + list(shapes.signature(tuple(sample_batch[n_in:])))
        _check_stack(model, layer, len(stack))
        self.layer = layer
        self.weights, self.state = layer.init_with_signature(_layer_input(stack, layer.n_in),
                                                             jax.random.PRNGKey(0))

    def __call__(self, model, params, model_state, batch, rng):
        """`(end layer's output, new model state)` for `batch`."""
        model_rng, end_rng = jax.random.split(rng)
        inputs = _layer_input(list(batch), model.n_in)
        outputs, new_state = model.pure_fn(inputs, params, model_state, model_rng)
        stack = _stack(outputs, model.n_out) + list(batch[model.n_in:])
        value, _ = self.layer.pure_fn(_layer_input(stack, self.layer.n_in), self.weights,
                                      self.state, end_rng)
        return value, new_state


def _optimizer(task):
    if task.lr_schedule is None:
        return task.optimizer
    return optimizers.with_schedule(task.optimizer, task.lr_schedule)


class Runner:
    """Device state and jitted steps for a Loop's model and tasks."""

    def __init__(self, model, eval_model, tasks, eval_tasks, n_devices, random_seed):
        self._model, self._eval_model = model, eval_model
        self.n_devices, self._sharded, self._replicated = fastmath.batch_shardings(n_devices)

        sample = tasks[0].sample_batch
        sig = shapes.signature(tuple(sample[:model.n_in]))
        sig = sig[0] if model.n_in == 1 else sig
        self.input_signature = sig  # Recorded in checkpoints, as Trax's files do.
        self._optimizers = [_optimizer(t) for t in tasks]

        def init(key):
            init_rng, rng = jax.random.split(key)
            weights, state = model.init_with_signature(sig, init_rng)
            return {"weights": weights, "state": state,
                    "opt_states": tuple(opt.init(weights) for opt in self._optimizers),
                    "step": jnp.zeros((), jnp.int32), "rng": rng,
                    "bad_step": jnp.zeros((), jnp.int32)}

        # One compiled program: initializing eagerly compiles every op on its own.
        key = jax.random.PRNGKey(random_seed)
        abstract = jax.eval_shape(init, key)
        self._losses = [_End(model, t.loss_layer, t.sample_batch, sig, abstract["weights"],
                             abstract["state"]) for t in tasks]
        self._metrics = [[_End(eval_model, m, t.sample_batch, sig, abstract["weights"],
                               abstract["state"]) for m in t.metrics] for t in eval_tasks]
        self._tree = jax.jit(init, out_shardings=self._replicated)(key)
        # Host copies for the layer (Trax's `model(x)` after init): the Loop's own device
        # arrays are donated to the train step.
        self.sync_to_layers()
        self._train_steps = [self._jit(self._make_train_step(i), donate=True)
                             for i in range(len(tasks))]
        self._eval_steps = [self._jit(self._make_eval_step(i), donate=False)
                            for i in range(len(eval_tasks))]

    def _jit(self, fn, donate):
        return jax.jit(fn, in_shardings=(self._replicated, self._sharded),
                       out_shardings=(self._replicated, self._replicated),
                       donate_argnums=(0,) if donate else ())

    def _make_train_step(self, i):
        loss, optimizer, model = self._losses[i], self._optimizers[i], self._model

        def loss_fn(params, batch, layer_state, rng):
            value, new_layer_state = loss(model, params, layer_state, batch, rng)
            return value, ({"loss": value}, new_layer_state)

        def step(tree, batch):
            ts = train_state.TrainState(params=tree["weights"], opt_state=tree["opt_states"][i],
                                        step=tree["step"], rng=tree["rng"],
                                        layer_state=tree["state"])
            ts, metrics = train_state.gradient_step(ts, batch, loss_fn, optimizer,
                                                    with_layer_state=True)
            first_bad = (tree["bad_step"] == 0) & (metrics[train_state.NONFINITE] != 0)
            opt_states = list(tree["opt_states"])
            opt_states[i] = ts.opt_state
            return {"weights": ts.params, "state": ts.layer_state,
                    "opt_states": tuple(opt_states), "step": ts.step, "rng": ts.rng,
                    "bad_step": jnp.where(first_bad, ts.step, tree["bad_step"])}, metrics["loss"]
        return step

    def _make_eval_step(self, i):
        metrics, model = self._metrics[i], self._eval_model

        def step(tree, batch):
            keys = jax.random.split(jax.random.fold_in(tree["rng"], 1), len(metrics))
            values = [m(model, tree["weights"], tree["state"], batch, k)[0]
                      for m, k in zip(metrics, keys)]
            return jnp.stack([jnp.asarray(v, jnp.float32) for v in values]), tree["step"]
        return step

    def _put_batch(self, batch):
        if not isinstance(batch, (tuple, list)):
            raise TypeError(f"a batch must be a tuple (inputs, targets[, weights]), got "
                            f"{type(batch).__name__}")
        batch = tuple(np.asarray(x) if not isinstance(x, jax.Array) else x for x in batch)
        if self.n_devices > 1:
            bad = [x.shape for x in batch if not x.ndim or x.shape[0] % self.n_devices]
            if bad:
                raise ValueError(f"a batch with shapes {[x.shape for x in batch]} cannot be split "
                                 f"over {self.n_devices} devices: use batch sizes divisible "
                                 f"by {self.n_devices}")
        return jax.device_put(batch, self._sharded)

    def train_step(self, task_index, batch):
        """Runs one step of task `task_index`; returns its loss (a device scalar)."""
        self._tree, loss = self._train_steps[task_index](self._tree, self._put_batch(batch))
        return loss

    def eval_step(self, eval_index, batch):
        """The eval task's metric values on `batch` (a device vector)."""
        values, _ = self._eval_steps[eval_index](self._tree, self._put_batch(batch))
        return values

    def bad_step(self):
        return int(self._tree["bad_step"])

    def state_tree(self):
        return self._tree

    def load_state_tree(self, tree):
        self._tree = jax.device_put(tree, self._replicated)

    def sync_to_layers(self):
        """Puts host copies of the weights and state on the models (Trax's `model(x)`)."""
        weights, state = jax.device_get((self._tree["weights"], self._tree["state"]))
        for layer in {id(self._model): self._model, id(self._eval_model): self._eval_model}.values():
            layer.weights, layer.state = weights, state


def default_writer(output_dir, step, wandb=False, wandb_project="trax_rl", config=None):
    """metrics.jsonl + TensorBoard (+ W&B) in `output_dir`, continuing a run at `step`.

    Metrics logged after `step` by an earlier, killed process are dropped from the
    JSONL and purged from TensorBoard, so a resumed run logs each step once.
    """
    runs.truncate_jsonl(os.path.join(output_dir, "metrics.jsonl"), step)
    return writers.create_writer(output_dir, console=False, wandb=wandb,
                                 wandb_project=wandb_project, config=config,
                                 purge_step=step + 1 if step else None)
