"""Trax's supervised training API: `TrainTask`, `EvalTask` and `Loop`.

    loop = training.Loop(model, train_task, eval_tasks=[eval_task], output_dir=out)
    loop.run(2000)

One training step is one jitted XLA program: the gradient of `Serial(model,
loss_layer).pure_fn` and an optax update (`trax_rl.train_state`). With several local
devices the batch is sharded over them and the parameters replicated, so XLA
averages the gradients across devices and the step computes what one device would.

The Loop prints Trax's lines (`Step    500: Ran 499 train steps in 5.77 secs`,
`Step    500: train WeightedCategoryCrossEntropy |  0.62914723`, eval lines),
writes the same metrics through `trax_rl.writers` (metrics.jsonl, TensorBoard, and
W&B when the writer has it) and shows a tqdm bar. In `output_dir` it keeps
`model.ckpt`, written atomically, whose `weights`/`state` entries are what
`model.init_from_file(path, weights_only=True)` reads.

Exact resume: a Loop built on an `output_dir` holding `model.ckpt` continues from
it (Trax's behaviour). The checkpoint holds the weights, layer state, optimizer
states, PRNG key and step, plus how many batches each task has drawn and the
running sums of the train losses; on resume the (deterministic) streams are advanced
by the batches already used, and metrics logged after the checkpoint are dropped
from metrics.jsonl (TensorBoard purges them), so a run killed at any moment and
restarted ends with the same weights, bit for bit, and each step logged once.

NaN guard (`trax_rl.train_state.gradient_step`'s): a step whose loss or gradient is not
finite is not applied; the Loop stops at the next log or checkpoint step with
`NonFiniteError` naming the first bad step, before writing anything, so the last good
checkpoint stays.
"""

import itertools
import os
import sys
import time

import jax
import numpy as np

from trax_rl import checkpoint as ckpt_lib
from trax_rl import data as data_lib
from trax_rl import runs
from trax_rl import train_state
from trax_rl.layers import files as tl_files
from trax_rl.supervised import loop_state

__all__ = ["EvalTask", "Loop", "NonFiniteError", "TrainTask"]

CHECKPOINT = "model.ckpt"
NonFiniteError = train_state.NonFiniteError


class _Stream:
    """A task's batches; the first is drawn at construction and used first."""

    def __init__(self, labeled_data, what):
        if not hasattr(labeled_data, "__next__"):
            raise TypeError(f"{what} labeled_data must be an iterator of batches (e.g. a "
                            f"trax_rl.data pipeline's stream), got {type(labeled_data).__name__}")
        self._data = labeled_data
        self._pending = [next(labeled_data)]
        self.sample_batch = self._pending[0]
        self.n_drawn = 0  # Batches handed to the Loop, counting the sample.

    def next_batch(self):
        self.n_drawn += 1
        return self._pending.pop() if self._pending else next(self._data)

    def restore_position(self, n_drawn):
        """Moves a freshly built stream past the `n_drawn` batches a run already used."""
        if self.n_drawn:
            raise RuntimeError("cannot restore the position of a stream already in use")
        if n_drawn:
            self._pending = []
            data_lib.skip(self._data, n_drawn - 1)
        self.n_drawn = n_drawn


class TrainTask:
    """Labeled data plus a loss layer and an optimizer: how to update the weights.

    Args:
      labeled_data: iterator of batches `(inputs..., targets[, weights])` of numpy arrays.
      loss_layer: layer mapping `(model_output, targets[, weights])` to a scalar.
      optimizer: an optax `GradientTransformation` (e.g. `trax_rl.optimizers.Adam(0.01)`;
        with an `lr_schedule`, one of `trax_rl.optimizers`).
      lr_schedule: optional schedule, as in Trax: when given, it is the optimizer's
        learning rate at every step, replacing the rate the optimizer was built with
        (`trax_rl.optimizers.with_schedule`). Like every `trax_rl.optimizers` schedule
        it is called with the number of updates already applied (0 first), so
        `optimizers.warmup_and_rsqrt_decay` gives Trax's rate at Trax's 1-based step.
      n_steps_per_checkpoint: steps between checkpoints (and, by default, evals).
      n_steps_per_permanent_checkpoint: steps between kept `model_<step>.ckpt` files.
    """

    def __init__(self, labeled_data, loss_layer, optimizer, lr_schedule=None,
                 n_steps_per_checkpoint=100, n_steps_per_permanent_checkpoint=None):
        for name, value in (("n_steps_per_checkpoint", n_steps_per_checkpoint),
                            ("n_steps_per_permanent_checkpoint",
                             n_steps_per_permanent_checkpoint)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
            raise TypeError(f"optimizer must be an optax GradientTransformation, got "
                            f"{type(optimizer).__name__}")
        self._stream = _Stream(labeled_data, "TrainTask")
        self.loss_layer = loss_layer
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.n_steps_per_checkpoint = n_steps_per_checkpoint
        self.n_steps_per_permanent_checkpoint = n_steps_per_permanent_checkpoint

    @property
    def sample_batch(self):
        return self._stream.sample_batch

    def next_batch(self):
        """Returns the next batch: a tuple of inputs, targets and (maybe) weights."""
        return self._stream.next_batch()


class EvalTask:
    """Labeled data plus metric layers: how (and how precisely) to measure the model.

    Args:
      labeled_data: iterator of batches, as for `TrainTask`.
      metrics: layers mapping `(model_output, targets[, weights])` to scalars.
      metric_names: names to report (default: the layers' names).
      n_eval_batches: batches per evaluation; reported values are their means.
    """

    def __init__(self, labeled_data, metrics, metric_names=None, n_eval_batches=1):
        if not isinstance(n_eval_batches, int) or n_eval_batches < 1:
            raise ValueError(f"n_eval_batches must be an int >= 1, got {n_eval_batches!r}")
        self.metrics = list(metrics)
        self.metric_names = list(metric_names or [m.name for m in self.metrics])
        if len(self.metric_names) != len(self.metrics):
            raise ValueError(f"{len(self.metrics)} metrics but {len(self.metric_names)} "
                             f"metric_names: {self.metric_names}")
        self.n_eval_batches = n_eval_batches
        self._stream = _Stream(labeled_data, "EvalTask")

    @property
    def sample_batch(self):
        return self._stream.sample_batch

    def next_batch(self):
        return self._stream.next_batch()


def _at_step_1_and_every(period):
    return lambda step: step == 1 or (step > 0 and step % period == 0)




class Loop:
    """Trains `model` on `tasks`, evaluates on `eval_tasks`, checkpoints in `output_dir`.

    Args:
      model: the layer to train; loss and metric layers sit on top of its outputs.
      tasks: a `TrainTask` or a list of them (multi-task: see `which_task`).
      eval_model: the layer evaluated (e.g. the same model in mode='eval'); it must
        have `model`'s weight structure. Defaults to `model`.
      eval_tasks: an `EvalTask`, a list of them, or None.
      output_dir: where checkpoints and metrics go; a checkpoint there is resumed.
      eval_at, checkpoint_at: functions of the step saying when to evaluate/save;
        default: step 1 and every `tasks[0].n_steps_per_checkpoint` steps.
      which_task: function step -> index of the task trained at that step
        (required with several tasks).
      n_devices: local devices to shard batches over (default: all).
      random_seed: seed of the weights' initialization and of the step keys.
      wandb: also log to Weights & Biases (offline without a login).
      wandb_project: the W&B project.
      config: a JSON-able dict recorded by TensorBoard and W&B.
      progress_bar: show a tqdm bar (default: when stderr is a terminal).
    """

    def __init__(self, model, tasks, eval_model=None, eval_tasks=None, output_dir=None,
                 eval_at=None, checkpoint_at=None, which_task=None, n_devices=None,
                 random_seed=0, progress_bar=None, wandb=False, wandb_project="trax_rl",
                 config=None):
        self._tasks = list(tasks) if isinstance(tasks, (list, tuple)) else [tasks]
        if not self._tasks:
            raise ValueError("Loop needs at least one TrainTask")
        self._eval_tasks = (list(eval_tasks) if isinstance(eval_tasks, (list, tuple))
                            else [] if eval_tasks is None else [eval_tasks])
        if which_task is None:
            if len(self._tasks) > 1:
                raise ValueError(f"{len(self._tasks)} tasks need which_task(step) -> index")
            which_task = lambda step: 0  # noqa: E731
        self._which_task = which_task
        self._model = model
        self._eval_model = eval_model or model
        self._output_dir = os.path.expanduser(output_dir) if output_dir else None
        default_at = _at_step_1_and_every(self._tasks[0].n_steps_per_checkpoint)
        # Unlike Trax (which then never logs), train losses are logged without eval tasks too.
        self._eval_at = eval_at or default_at
        self._checkpoint_at = checkpoint_at or default_at
        self._progress_bar = sys.stderr.isatty() if progress_bar is None else progress_bar
        self._runner = loop_state.Runner(model, self._eval_model, self._tasks,
                                         self._eval_tasks, n_devices, random_seed)
        names = [t.loss_layer.name for t in self._tasks]
        names += [n for t in self._eval_tasks for n in t.metric_names]
        self._rjust = max(map(len, names))
        self._sums = [[0.0, 0] for _ in self._tasks]  # Train loss sum and count per task.
        self._step = 0
        self.load_checkpoint()  # Before any file is written: a bad checkpoint writes nothing.
        self._writer = None
        if self._output_dir is not None:
            self._writer = loop_state.default_writer(self._output_dir, self._step, wandb=wandb,
                                                     wandb_project=wandb_project, config=config)

    # -- Properties ------------------------------------------------------------------

    @property
    def step(self):
        """The number of training steps done."""
        return self._step

    @property
    def model(self):
        """The trained model, holding the current weights after `run`."""
        return self._model

    @property
    def eval_model(self):
        return self._eval_model

    @property
    def n_devices(self):
        return self._runner.n_devices

    @property
    def tasks(self):
        return self._tasks

    @property
    def eval_tasks(self):
        return self._eval_tasks

    # -- Running ---------------------------------------------------------------------

    def run(self, n_steps=1):
        """Runs `n_steps` more training steps, with evals and checkpoints on schedule."""
        if not isinstance(n_steps, int) or n_steps < 0:
            raise ValueError(f"n_steps must be an int >= 0, got {n_steps!r}")
        bar = None
        if self._progress_bar:
            bar = runs.progress_bar(self._step + n_steps, initial=self._step)
        losses = [[] for _ in self._tasks]  # Device scalars since the last log.
        start, steps_timed = time.perf_counter(), 0
        try:
            for _ in range(n_steps):
                task_index = self._which_task(self._step + 1)
                batch = self._tasks[task_index].next_batch()
                losses[task_index].append(self._runner.train_step(task_index, batch))
                self._step += 1
                steps_timed += 1
                if bar is not None:
                    bar.update(1)
                log_now, save_now = self._eval_at(self._step), self._checkpoint_at(self._step)
                permanent = self._permanent_checkpoint_at(self._step)
                if log_now or save_now or permanent or self._step % 100 == 0:
                    self._collect(losses)
                if log_now:
                    metrics = self._log_training(time.perf_counter() - start, steps_timed, bar)
                    metrics.update(self._evaluate(bar))
                    self._write(metrics)  # One record per logged step.
                    start, steps_timed = time.perf_counter(), 0
                if save_now:
                    self.save_checkpoint()
                if permanent:
                    self.save_checkpoint(f"model_{self._step}.ckpt")
            self._collect(losses)
        finally:
            if bar is not None:
                bar.close()
            if self._writer is not None:
                self._writer.flush()
        self._runner.sync_to_layers()

    def _permanent_checkpoint_at(self, step):
        period = self._tasks[0].n_steps_per_permanent_checkpoint
        return period is not None and step % period == 0

    def _collect(self, losses):
        """Adds the pending device losses into the running sums; checks the NaN guard."""
        for i, pending in enumerate(losses):
            if pending:
                values = np.asarray(jax.device_get(pending), np.float64)
                self._sums[i][0] += float(values.sum())
                self._sums[i][1] += len(pending)
                pending.clear()
        bad_step = self._runner.bad_step()
        try:
            train_state.check_finite({train_state.NONFINITE: bad_step}, bad_step, "Step")
        except NonFiniteError as e:
            kept = (f"the last good checkpoint in {self._output_dir} is kept"
                    if self._output_dir else "nothing was saved (no output_dir)")
            raise NonFiniteError(f"{e}; {kept}") from None

    def _print(self, message, bar):
        line = f"Step {self._step:6d}: {message}"
        if bar is not None:
            bar.write(line)
        else:
            print(line, flush=True)

    def _log_training(self, elapsed, n_steps, bar):
        self._print_blank(bar)
        self._print(f"Ran {n_steps} train steps in {elapsed:0.2f} secs", bar)
        metrics = {}
        for task, (total, count) in zip(self._tasks, self._sums):
            if count:
                name = task.loss_layer.name
                self._print(f"{'train'.ljust(5)} {name.rjust(self._rjust)} | "
                            f"{total / count: .8f}", bar)
                metrics[f"train/{name}"] = total / count
        metrics["train/steps_per_second"] = n_steps / max(elapsed, 1e-9)
        for task in self._tasks:
            if task.lr_schedule is not None:
                # The rate of the update that made this step.
                metrics["train/learning_rate"] = float(task.lr_schedule(self._step - 1))
        self._sums = [[0.0, 0] for _ in self._tasks]
        return metrics

    def _print_blank(self, bar):
        if bar is not None:
            bar.write("")
        else:
            print(flush=True)

    def _write(self, metrics):
        if self._writer is not None:
            self._writer.write(self._step, metrics)

    def run_evals(self):
        """Evaluates every eval task now; prints and writes the mean metrics."""
        self._write(self._evaluate(None))

    def _evaluate(self, bar):
        metrics = {}
        for i, task in enumerate(self._eval_tasks):
            values = [self._runner.eval_step(i, task.next_batch())
                      for _ in range(task.n_eval_batches)]
            means = np.mean(np.asarray(jax.device_get(values), np.float64), axis=0)
            prefix = "eval" if len(self._eval_tasks) == 1 else f"eval_{i}"
            for name, value in zip(task.metric_names, means):
                self._print(f"{'eval'.ljust(5)} {name.rjust(self._rjust)} | {value: .8f}", bar)
                metrics[f"{prefix}/{name}"] = float(value)
        return metrics

    def close(self):
        """Flushes and closes the metric writers (W&B finishes its run)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- Checkpoints -----------------------------------------------------------------

    def save_checkpoint(self, filename=CHECKPOINT):
        """Writes the whole training state to `output_dir/filename` atomically."""
        if self._output_dir is None:
            return
        losses = [[] for _ in self._tasks]
        self._collect(losses)  # Never save past a non-finite step.
        if self._writer is not None:
            self._writer.flush()  # Metrics up to this step are on disk before the state.
        metadata = {
            "step": self._step,
            "train_batches": [t._stream.n_drawn for t in self._tasks],  # noqa: SLF001
            "eval_batches": [t._stream.n_drawn for t in self._eval_tasks],  # noqa: SLF001
            "loss_sums": self._sums,
            "model": repr(self._model),
            # What `Layer.init_from_file` checks: weights in Trax's layouts.
            "layout": tl_files.WEIGHTS_LAYOUT,
            # What `init_from_file` builds the model's structure from when given none.
            "input_signature": tl_files.signature_to_json(self._runner.input_signature),
        }
        ckpt_lib.save(os.path.join(self._output_dir, filename), self._runner.state_tree(),
                      metadata=metadata)

    def load_checkpoint(self, directory=None, filename=CHECKPOINT):
        """Restores the training state (and stream positions) saved by `save_checkpoint`.

        Returns True if a checkpoint was loaded. A checkpoint of another model, or
        of a Loop with other tasks, raises `CheckpointError` naming what differs.
        """
        directory = directory or self._output_dir
        if directory is None:
            return False
        path = os.path.join(os.path.expanduser(directory), filename)
        if not os.path.exists(path):
            return False
        metadata = ckpt_lib.read_metadata(path) or {}
        counts = (len(metadata.get("train_batches", ())), len(metadata.get("eval_batches", ())))
        if counts != (len(self._tasks), len(self._eval_tasks)):
            raise ckpt_lib.CheckpointError(
                f"{path} was written by a Loop with {counts[0]} train and {counts[1]} eval "
                f"tasks; this Loop has {len(self._tasks)} and {len(self._eval_tasks)}")
        self._runner.load_state_tree(ckpt_lib.restore(path, self._runner.state_tree()))
        for task, n in itertools.chain(zip(self._tasks, metadata["train_batches"]),
                                       zip(self._eval_tasks, metadata["eval_batches"])):
            task._stream.restore_position(n)  # noqa: SLF001
        self._sums = [list(s) for s in metadata["loss_sums"]]
        self._step = int(metadata["step"])
        self._runner.sync_to_layers()
        return True

