"""Tests for trax_rl.writers: JSONL, console, TensorBoard, W&B offline, failing sinks."""

import io
import json
import os
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from trax_rl import writers


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_jsonl_lines_and_resume_appends(tmp_path):
    path = tmp_path / "run" / "metrics.jsonl"
    with writers.MetricWriter([writers.JsonlSink(path)], enabled=True) as writer:
        writer.write(1, {"loss": jnp.float32(0.5), "charts/sps": 120, "done": True,
                         "hist": jnp.ones(3)})
        writer.write(2, {"loss": np.array(0.25), "bad": float("nan")})
    with writers.MetricWriter([writers.JsonlSink(path)], enabled=True) as writer:
        writer.write(3, {"loss": 0.125})
    lines = read_jsonl(path)
    assert lines[0] == {"step": 1, "loss": 0.5, "charts/sps": 120.0, "done": 1.0}
    assert lines[1]["step"] == 2 and lines[1]["loss"] == 0.25
    assert np.isnan(lines[1]["bad"])
    assert lines[2] == {"step": 3, "loss": 0.125}


def test_console_line():
    stream = io.StringIO()
    writer = writers.MetricWriter([writers.ConsoleSink(stream)], enabled=True)
    writer.write(100, {"loss": 0.6931471805599453, "acc": jnp.array(0.5)})
    writer.close()
    assert stream.getvalue() == "step 100 | loss 0.693147 | acc 0.5\n"


def test_non_numeric_metric_is_a_clear_error(tmp_path):
    writer = writers.MetricWriter([writers.ConsoleSink(io.StringIO())], enabled=True)
    with pytest.raises(TypeError, match="'name' must be numeric"):
        writer.write(1, {"name": "abc"})


def test_tensorboard_events_read_back(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    writer = writers.MetricWriter([writers.TensorBoardSink(tmp_path)], enabled=True)
    writer.write_config({"lr": 0.001, "env": "CartPole-v1"})
    for step in range(3):
        writer.write(step, {"losses/total": 1.0 / (step + 1),
                            "charts/returns": jnp.arange(4.0) + step})
    writer.close()
    acc = event_accumulator.EventAccumulator(
        str(tmp_path), size_guidance={event_accumulator.HISTOGRAMS: 0,
                                      event_accumulator.SCALARS: 0})
    acc.Reload()
    events = acc.Scalars("losses/total")
    assert [e.step for e in events] == [0, 1, 2]
    np.testing.assert_allclose([e.value for e in events], [1.0, 0.5, 1 / 3], rtol=1e-6)
    histograms = acc.Histograms("charts/returns")
    assert [h.step for h in histograms] == [0, 1, 2]
    assert histograms[2].histogram_value.min == 2.0
    assert histograms[2].histogram_value.max == 5.0
    assert "config/text_summary" in acc.Tags()["tensors"]


def test_tensorboard_resume_in_the_same_second_keeps_the_earlier_events(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    for steps, purge_step in [(range(1, 5), None), (range(3, 7), 3)]:  # killed after 4
        writer = writers.MetricWriter([writers.TensorBoardSink(tmp_path, purge_step)],
                                      enabled=True)
        for step in steps:
            writer.write(step, {"loss": float(step)})
        writer.close()
    assert len(os.listdir(tmp_path)) == 2  # One file per session, none overwritten.
    acc = event_accumulator.EventAccumulator(str(tmp_path))
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss")] == [1, 2, 3, 4, 5, 6]


class BrokenSink(writers.Sink):
    name = "broken"

    def __init__(self, fail_in):
        self.fail_in, self.calls = fail_in, []

    def _maybe_fail(self, method):
        self.calls.append(method)
        if method == self.fail_in:
            raise ConnectionError(f"{method} exploded")

    def open(self):
        self._maybe_fail("open")

    def write(self, step, scalars, arrays):
        self._maybe_fail("write")

    def flush(self):
        self._maybe_fail("flush")


@pytest.mark.parametrize("fail_in", ["open", "write", "flush"])
def test_failing_sink_warns_once_and_others_continue(tmp_path, fail_in):
    path = tmp_path / "metrics.jsonl"
    broken = BrokenSink(fail_in)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with writers.MetricWriter([broken, writers.JsonlSink(path)],
                                  enabled=True) as writer:
            for step in range(3):
                writer.write(step, {"loss": 1.0})
                writer.flush()
    relevant = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(relevant) == 1
    message = str(relevant[0].message)
    assert "'broken'" in message and f"ConnectionError: {fail_in} exploded" in message
    assert broken.calls.count(fail_in) == 1
    assert [line["step"] for line in read_jsonl(path)] == [0, 1, 2]


def test_disabled_writer_writes_nothing(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with writers.MetricWriter([writers.JsonlSink(path)], enabled=False) as writer:
        writer.write(0, {"loss": 1.0})
    assert not path.exists()


def test_create_writer_defaults(tmp_path, capsys):
    with writers.create_writer(tmp_path, config={"lr": 0.1}) as writer:
        assert [s.name for s in writer.sinks] == ["console", "jsonl", "tensorboard"]
        writer.write(5, {"loss": 2.0})
    assert read_jsonl(tmp_path / "metrics.jsonl") == [{"step": 5, "loss": 2.0}]
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path))
    assert "step 5 | loss 2" in capsys.readouterr().out


def test_wandb_offline_run_lands_in_temp_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "out"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        writer = writers.MetricWriter(
            [writers.WandbSink("trax_rl_test", config={"lr": 0.1}, dir=out)], enabled=True)
        writer.write(1, {"loss": 1.5, "hist": np.arange(5.0)})
        writer.write(2, {"loss": 1.0})
        writer.close()
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)
                and "metric sink" in str(w.message)]
    # No login was available, so the sink chose offline mode for the process.
    assert os.environ["WANDB_MODE"] == "offline"
    runs = [d for d in os.listdir(out / "wandb") if d.startswith("offline-run-")]
    assert len(runs) == 1
    assert any(f.endswith(".wandb") for f in os.listdir(out / "wandb" / runs[0]))
