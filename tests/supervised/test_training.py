"""TrainTask / EvalTask / Loop: learning, metrics, files, exact resume, NaN guard, errors."""

import glob
import json
import os

import jax
import numpy as np
import pytest

import trax_rl.layers as tl
from trax_rl import checkpoint, optimizers
from trax_rl.supervised import training
from trax_rl.supervised import loop_state

from supervised_helpers import make_data, make_model, pipeline


@pytest.fixture
def task_data():
    return make_data()


def _loop(output_dir, x, y, n_steps_per_checkpoint=10, model=None, **kwargs):
    task = training.TrainTask(pipeline(x, y)(), tl.WeightedCategoryCrossEntropy(),
                              optimizers.Adam(0.05), n_steps_per_checkpoint=n_steps_per_checkpoint)
    eval_task = training.EvalTask(pipeline(x, y, seed=7)(),
                                  [tl.WeightedCategoryCrossEntropy(),
                                   tl.WeightedCategoryAccuracy()], n_eval_batches=2)
    return training.Loop(model or make_model(), task, eval_tasks=[eval_task],
                         output_dir=output_dir, **kwargs)


def _records(output_dir):
    with open(os.path.join(output_dir, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    # Timing is the one thing a rerun does not reproduce.
    return [{k: v for k, v in r.items() if "per_second" not in k} for r in lines]


def test_loop_lowers_the_loss_and_prints_trax_lines(tmp_path, task_data, capsys):
    loop = _loop(str(tmp_path), *task_data, n_steps_per_checkpoint=40)
    loop.run(120)
    assert loop.step == 120
    out = capsys.readouterr().out
    assert "Step      1: Ran 1 train steps in " in out
    assert "Step     40: Ran 39 train steps in " in out
    assert "Step    120: train WeightedCategoryCrossEntropy |  0." in out
    assert "Step    120: eval      WeightedCategoryAccuracy |  " in out
    records = _records(str(tmp_path))
    assert [r["step"] for r in records] == [1, 40, 80, 120]
    loss = [r["train/WeightedCategoryCrossEntropy"] for r in records]
    assert loss[-1] < 0.5 * loss[0]
    assert records[-1]["eval/WeightedCategoryAccuracy"] > 0.9


def test_eval_metrics_match_numpy(tmp_path, task_data):
    x, y = task_data
    batches = [(x[i:i + 8], y[i:i + 8], np.ones(8, np.float32)) for i in range(0, 32, 8)]
    task = training.TrainTask(pipeline(x, y)(), tl.WeightedCategoryCrossEntropy(),
                              optimizers.Adam(0.05))
    eval_task = training.EvalTask(iter(batches), [tl.WeightedCategoryCrossEntropy(),
                                                  tl.WeightedCategoryAccuracy()],
                                  metric_names=["ce", "acc"], n_eval_batches=4)
    model = make_model()
    loop = training.Loop(model, task, eval_tasks=eval_task, output_dir=str(tmp_path),
                         eval_at=lambda step: step == 5)
    loop.run(5)
    log_probs = [np.asarray(model(b[0]), np.float64) for b in batches]
    ce = np.mean([-lp[np.arange(8), b[1]].mean() for lp, b in zip(log_probs, batches)])
    acc = np.mean([(lp.argmax(-1) == b[1]).mean() for lp, b in zip(log_probs, batches)])
    record = _records(str(tmp_path))[-1]
    assert record["step"] == 5
    np.testing.assert_allclose(record["eval/ce"], ce, rtol=1e-5)
    np.testing.assert_allclose(record["eval/acc"], acc)


def test_checkpoint_is_read_by_init_from_file(tmp_path, task_data):
    task = training.TrainTask(pipeline(*task_data)(), tl.WeightedCategoryCrossEntropy(),
                              optimizers.Adam(0.05), n_steps_per_checkpoint=10,
                              n_steps_per_permanent_checkpoint=4)
    loop = training.Loop(make_model(), task, output_dir=str(tmp_path))
    loop.run(10)
    assert {"model.ckpt", "model_4.ckpt", "model_8.ckpt"} <= set(os.listdir(tmp_path))
    assert checkpoint.read_metadata(str(tmp_path / "model_4.ckpt"))["step"] == 4
    fresh = make_model()
    fresh.init_from_file(str(tmp_path / "model.ckpt"), weights_only=True,
                         input_signature=jax.ShapeDtypeStruct((2, 10), np.int32))
    x = task_data[0][:4]
    np.testing.assert_array_equal(fresh(x), loop.model(x))
    # As in Trax (and the seed's translation flow), the file records the input signature.
    assert checkpoint.read_metadata(str(tmp_path / "model.ckpt"))["input_signature"] == \
        {"shape": [16, 10], "dtype": "int32"}  # the first batch's model inputs
    bare = make_model()
    bare.init_from_file(str(tmp_path / "model.ckpt"), weights_only=True)
    np.testing.assert_array_equal(bare(x), loop.model(x))


class _Killed(Exception):
    pass


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """(run dir, final weights) of 30 steps never stopped."""
    full = str(tmp_path_factory.mktemp("full"))
    reference = _loop(full, *make_data())
    reference.run(30)
    return full, reference.model.weights


@pytest.mark.parametrize("kill_at", [("step", 17), ("step", 20), ("save", 2)])
def test_killed_and_restarted_run_matches_an_uninterrupted_one(tmp_path, task_data,
                                                               monkeypatch, kill_at,
                                                               uninterrupted):
    full, reference_weights = uninterrupted

    killed = str(tmp_path / "killed")
    kind, when = kill_at
    real_step, real_save = loop_state.Runner.train_step, checkpoint.save
    calls = {"step": 0, "save": 0}

    def step(self, *args):
        calls["step"] += 1
        if kind == "step" and calls["step"] == when:
            raise _Killed  # Mid-interval: after step 16's work, before step 17's.
        return real_step(self, *args)

    def save(*args, **kwargs):
        calls["save"] += 1
        if kind == "save" and calls["save"] == when:
            raise _Killed  # Step 10 logged, its checkpoint never written.
        return real_save(*args, **kwargs)

    monkeypatch.setattr(loop_state.Runner, "train_step", step)
    monkeypatch.setattr(checkpoint, "save", save)
    with pytest.raises(_Killed):
        _loop(killed, *task_data).run(30)
    monkeypatch.undo()

    resumed = _loop(killed, *task_data)
    assert resumed.step in (1, 10)
    resumed.run(30 - resumed.step)
    jax.tree.map(np.testing.assert_array_equal, resumed.model.weights, reference_weights)
    assert _records(killed) == _records(full)


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    x = np.ones((64, 3), np.float32)
    x[40:48] = np.nan  # Batch 6 of 8 (steps 6, 14, ...).
    y = np.zeros(64, np.int64)
    from trax_rl import data
    stream = data.Serial(data.Arrays(x, y), data.Batch(8), data.AddLossWeights())()
    task = training.TrainTask(stream, tl.WeightedCategoryCrossEntropy(), optimizers.Adam(0.01),
                              n_steps_per_checkpoint=4)
    model = tl.Serial(tl.Dense(2), tl.LogSoftmax())
    loop = training.Loop(model, task, output_dir=str(tmp_path))
    with pytest.raises(training.NonFiniteError,
                       match=r"^Step 6: .*NaN or inf.*checkpoint .* is kept"):
        loop.run(20)
    assert checkpoint.read_metadata(str(tmp_path / "model.ckpt"))["step"] == 4
    assert all(np.isfinite(w).all() for w in jax.tree.leaves(model.weights))


def test_mismatched_checkpoint_is_one_line_and_writes_nothing(tmp_path, task_data):
    _loop(str(tmp_path), *task_data).run(10)
    before = {p: open(p, "rb").read() for p in glob.glob(str(tmp_path / "*"))}
    other = tl.Serial(tl.Embedding(20, 4), tl.Mean(axis=1), tl.Dense(2), tl.LogSoftmax())
    with pytest.raises(checkpoint.CheckpointError, match="shape") as e:
        _loop(str(tmp_path), *task_data, model=other)
    assert "\n" not in str(e.value)
    after = {p: open(p, "rb").read() for p in glob.glob(str(tmp_path / "*"))}
    assert after == before


def test_several_tasks_take_turns(tmp_path, task_data):
    x, y = task_data
    tasks = [training.TrainTask(pipeline(x, y, seed=s)(), loss, optimizers.Adam(0.05),
                                n_steps_per_checkpoint=10)
             for s, loss in ((0, tl.WeightedCategoryCrossEntropy()),
                             (1, tl.WeightedCategoryAccuracy()))]
    loop = training.Loop(make_model(), tasks, which_task=lambda step: step % 2,
                         output_dir=str(tmp_path))
    loop.run(10)
    record = _records(str(tmp_path))[-1]
    assert {"train/WeightedCategoryCrossEntropy", "train/WeightedCategoryAccuracy"} <= set(record)
    with pytest.raises(ValueError, match="which_task"):
        training.Loop(make_model(), tasks)


def test_lr_schedule_is_the_learning_rate_as_in_trax(tmp_path, task_data):
    # Trax's schedule replaces the optimizer's own rate (Adam(0.5) here); a zero
    # schedule leaves the weights where they were (no weight decay: SGD).
    x, y = task_data
    schedule = optimizers.warmup_and_rsqrt_decay(2, 0.05)
    runs = {}
    for name, optimizer, lr_schedule in (
            ("task_schedule", optimizers.Adam(0.5), schedule),
            ("optimizer_schedule", optimizers.Adam(schedule), None),
            ("zero", optimizers.SGD(1.0), lambda step: 0.0)):
        task = training.TrainTask(pipeline(x, y)(), tl.WeightedCategoryCrossEntropy(),
                                  optimizer, lr_schedule=lr_schedule)
        loop = training.Loop(make_model(), task)
        initial = jax.tree.map(np.array, loop.model.weights)
        loop.run(3)
        runs[name] = (initial, loop.model.weights)
    jax.tree.map(np.testing.assert_allclose, runs["task_schedule"][1],
                 runs["optimizer_schedule"][1])
    assert not np.array_equal(jax.tree.leaves(runs["task_schedule"][0])[0],
                              jax.tree.leaves(runs["task_schedule"][1])[0])
    jax.tree.map(np.testing.assert_array_equal, *runs["zero"])


def test_tensorboard_events_read_back(tmp_path, task_data):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    loop = _loop(str(tmp_path), *task_data)
    loop.run(10)
    loop.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    acc = events.Scalars("eval/WeightedCategoryAccuracy")
    assert [e.step for e in acc] == [1, 10]
    record = _records(str(tmp_path))[-1]
    np.testing.assert_allclose(acc[-1].value, record["eval/WeightedCategoryAccuracy"], rtol=1e-6)


def test_bad_arguments_are_clear(task_data):
    x, y = task_data
    with pytest.raises(ValueError, match="n_steps_per_checkpoint must be an int >= 1"):
        training.TrainTask(pipeline(x, y)(), tl.WeightedCategoryCrossEntropy(),
                           optimizers.Adam(), n_steps_per_checkpoint=0)
    with pytest.raises(TypeError, match="iterator of batches"):
        training.TrainTask([1, 2], tl.WeightedCategoryCrossEntropy(), optimizers.Adam())
    with pytest.raises(ValueError, match="2 metrics but 1 metric_names"):
        training.EvalTask(pipeline(x, y)(), [tl.WeightedCategoryAccuracy()] * 2,
                          metric_names=["a"])
    task = training.TrainTask(pipeline(x, y)(), tl.WeightedCategoryCrossEntropy(),
                              optimizers.Adam())
    with pytest.raises(ValueError, match="n_devices must be an int in"):
        training.Loop(make_model(), task, n_devices=99)
