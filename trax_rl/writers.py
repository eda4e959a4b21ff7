"""Metric writers: one `MetricWriter` fanning out to console, JSONL, TensorBoard, W&B.

Training code computes metrics inside jit and hands them to a writer at the
edge: `writer.write(step, {"loss": loss, "charts/sps": sps})`. Values may be
JAX arrays, numpy arrays or Python numbers. 0-d values are scalars; arrays with
dimensions go to sinks that can show them (TensorBoard and W&B histograms) and
are skipped by the console and JSONL sinks.

Robustness rules:

- A sink that raises (while opening, writing, flushing or closing) produces ONE
  `RuntimeWarning` naming the sink and the error, and is disabled; training and
  the other sinks carry on. Dashboards must never kill a run.
- Only process 0 (`jax.process_index() == 0`) writes; other processes get a
  writer that accepts and drops everything.
- Heavy libraries (tensorboardX, wandb) are imported when their sink opens.
"""

import json
import netrc
import os
import sys
import time
import warnings

import jax
import numpy as np

__all__ = [
    "ConsoleSink",
    "JsonlSink",
    "MetricWriter",
    "Sink",
    "TensorBoardSink",
    "WandbSink",
    "create_writer",
]


class Sink:
    """Base class: one destination for metrics. Subclasses override what they use.

    `open` is called once by `MetricWriter` (inside its error guard), so
    constructors only store arguments and never fail on I/O.
    """

    name = "sink"

    def open(self):
        pass

    def write(self, step, scalars, arrays):
        """`scalars`: {name: float}; `arrays`: {name: np.ndarray with ndim >= 1}."""

    def write_config(self, config):
        pass

    def flush(self):
        pass

    def close(self):
        pass


class ConsoleSink(Sink):
    """Prints one compact line per step: `step 100 | loss 0.693147 | acc 0.5`."""

    name = "console"

    def __init__(self, stream=None):
        self._stream = stream

    def write(self, step, scalars, arrays):
        if not scalars:
            return
        fields = " | ".join(f"{k} {v:.6g}" for k, v in scalars.items())
        print(f"step {step} | {fields}", file=self._stream or sys.stdout, flush=True)


class JsonlSink(Sink):
    """Appends `{"step": step, name: value, ...}` lines to `path`.

    Append mode, so a resumed run continues the same file; steps replayed
    after a resume appear twice, and readers should keep the last line per
    step. Non-finite values are written as NaN / Infinity (Python's json reads
    them back). Arrays with dimensions are skipped. Each line is flushed as it
    is written: this file is the run's record even when the process is killed.
    """

    name = "jsonl"

    def __init__(self, path):
        self.path = os.fspath(path)
        self._file = None

    def open(self):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, step, scalars, arrays):
        self._file.write(json.dumps({"step": step, **scalars}) + "\n")
        self._file.flush()

    def flush(self):
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


class TensorBoardSink(Sink):
    """TensorBoard event files via tensorboardX (no TensorFlow needed).

    Scalars become scalar summaries; arrays become histograms; the config is
    stored as a JSON text summary named 'config'.

    Events are written synchronously with tensorboardX's `EventsWriter`, not through
    `SummaryWriter`, whose background thread and queue make `flush()` return before
    queued events reach the file: a checkpoint taken right after a flush could then
    claim metrics that a kill loses (seen under load as a missing last event).
    """

    name = "tensorboard"

    def __init__(self, logdir, purge_step=None):
        self.logdir = os.fspath(logdir)
        self._purge_step = purge_step
        self._events = None

    def open(self):
        # Lazy imports: only when TensorBoard is on.
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto import event_pb2
        os.makedirs(self.logdir, exist_ok=True)
        self._event_pb2 = event_pb2
        # tensorboardX names the file by the second it opens and writes it with "wb": a
        # run resumed within the same second as the killed one would overwrite that
        # file's events. Nanoseconds make the name unique and keep files in time order.
        self._events = EventsWriter(os.path.join(self.logdir, "events"),
                                    filename_suffix=f".{time.time_ns()}")
        if self._purge_step is not None:
            # A resumed run: TensorBoard hides the events at steps >= purge_step that
            # a killed run logged after its last checkpoint (what SummaryWriter writes).
            start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            self._events.write_event(event_pb2.Event(step=self._purge_step,
                                                     file_version="brain.Event:2"))
            self._events.write_event(event_pb2.Event(step=self._purge_step, session_log=start))

    def _write(self, summary, step=None):
        event = self._event_pb2.Event(wall_time=time.time(), summary=summary)
        if step is not None:
            event.step = int(step)
        self._events.write_event(event)

    def write(self, step, scalars, arrays):
        from tensorboardX import summary
        for k, v in scalars.items():
            self._write(summary.scalar(k, float(v)), step)
        for k, v in arrays.items():
            if v.size and np.issubdtype(v.dtype, np.number):
                self._write(summary.histogram(k, v.astype(np.float64), bins="auto"), step)

    def write_config(self, config):
        from tensorboardX import summary
        text = json.dumps(config, indent=2, sort_keys=True, default=str)
        # Four-space indent makes TensorBoard's markdown show it as code.
        self._write(summary.text("config", "    " + text.replace("\n", "\n    ")))

    def flush(self):
        self._events.flush()

    def close(self):
        if self._events is not None:
            self._events.close()
            self._events = None


def _wandb_logged_in():
    """True when W&B has an API key: from the environment or ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
        return netrc.netrc().authenticators(host.split("://")[-1]) is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandbSink(Sink):
    """Weights & Biases run. Offline (ready for `wandb sync`) without a login.

    W&B's `mode=` argument alone still contacts the network, so the mode is
    also put in `os.environ['WANDB_MODE']` before `wandb.init`: 'offline' when
    no API key is found and no mode was asked for. An existing WANDB_MODE wins.
    """

    name = "wandb"

    def __init__(self, project, config=None, dir=None, name=None, mode=None):  # noqa: A002
        self.project, self.config, self.dir = project, config, dir
        self.run_name, self.mode = name, mode
        self._run = None

    def open(self):
        if "WANDB_MODE" not in os.environ:
            mode = self.mode or (None if _wandb_logged_in() else "offline")
            if mode is not None:
                os.environ["WANDB_MODE"] = mode
        import wandb  # Lazy: costs ~0.5 s and is only needed with --wandb.
        if self.dir is not None:
            os.makedirs(self.dir, exist_ok=True)
        self._run = wandb.init(project=self.project, config=self.config, dir=self.dir,
                               name=self.run_name, mode=os.environ.get("WANDB_MODE"),
                               reinit="create_new")

    def write(self, step, scalars, arrays):
        import wandb
        data = dict(scalars)
        data.update({k: wandb.Histogram(v) for k, v in arrays.items() if v.size})
        self._run.log(data, step=step)

    def write_config(self, config):
        self._run.config.update(config, allow_val_change=True)

    def close(self):
        if self._run is not None:
            self._run.finish()
            self._run = None


def _split_metrics(metrics):
    """Host copies of `metrics`: ({name: float}, {name: np.ndarray, ndim >= 1})."""
    scalars, arrays = {}, {}
    names = list(metrics)
    # One host transfer for all values; a list keeps the caller's key order,
    # which a dict pytree would sort.
    values = jax.device_get([metrics[name] for name in names])
    for name, value in zip(names, values):
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"metric {name!r} must be numeric, got {value!r}")
        if array.ndim == 0:
            scalars[str(name)] = float(array)
        else:
            arrays[str(name)] = array
    return scalars, arrays


class MetricWriter:
    """Fans metrics out to sinks; a failing sink warns once and is dropped.

    Args:
      sinks: the `Sink`s to write to; each is opened here.
      enabled: write at all; defaults to `jax.process_index() == 0`, so on
        multi-host runs only the first process writes.
    """

    def __init__(self, sinks, *, enabled=None):
        self.enabled = jax.process_index() == 0 if enabled is None else enabled
        self._sinks = list(sinks) if self.enabled else []
        for sink in list(self._sinks):
            self._call(sink, "open")

    @property
    def sinks(self):
        """The sinks still active (failed ones have been removed)."""
        return tuple(self._sinks)

    def _call(self, sink, method, *args):
        try:
            getattr(sink, method)(*args)
        except Exception as e:  # noqa: BLE001 -- any sink failure must not stop training.
            self._sinks.remove(sink)
            warnings.warn(
                f"metric sink {sink.name!r} ({type(sink).__name__}) failed in "
                f"{method}: {type(e).__name__}: {e}. It is disabled; training and "
                f"the other sinks continue.", RuntimeWarning, stacklevel=3)
            if method != "close":
                try:
                    sink.close()
                except Exception:  # noqa: BLE001 -- already reported above.
                    pass

    def write(self, step, metrics):
        """Writes `metrics` ({name: scalar or array}) for training step `step`."""
        if not self._sinks:
            return
        scalars, arrays = _split_metrics(metrics)
        step = int(step)
        for sink in list(self._sinks):
            self._call(sink, "write", step, scalars, arrays)

    def write_config(self, config):
        """Records the run's configuration (a JSON-able dict) where sinks can."""
        for sink in list(self._sinks):
            self._call(sink, "write_config", dict(config))

    def flush(self):
        for sink in list(self._sinks):
            self._call(sink, "flush")

    def close(self):
        for sink in list(self._sinks):
            self._call(sink, "close")
        self._sinks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


def create_writer(output_dir, *, console=True, jsonl=True, tensorboard=True,
                  wandb=False, wandb_project="trax_rl", wandb_name=None, config=None,
                  enabled=None, purge_step=None):
    """The usual writer for a run in `output_dir`.

    Writes `output_dir/metrics.jsonl`, TensorBoard events in `output_dir`, and a
    W&B run under `output_dir/wandb` when `wandb=True`; records `config` if given.
    `purge_step` (for a resumed run): TensorBoard discards earlier events at steps >= it.
    """
    output_dir = os.fspath(output_dir)
    sinks = []
    if console:
        sinks.append(ConsoleSink())
    if jsonl:
        sinks.append(JsonlSink(os.path.join(output_dir, "metrics.jsonl")))
    if tensorboard:
        sinks.append(TensorBoardSink(output_dir, purge_step=purge_step))
    if wandb:
        sinks.append(WandbSink(wandb_project, config=config, dir=output_dir,
                               name=wandb_name))
    writer = MetricWriter(sinks, enabled=enabled)
    if config is not None:
        writer.write_config(config)
    return writer

