"""A Loop killed with SIGKILL at a random moment and restarted matches an unstopped run."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import sys, jax, numpy as np
    import trax_rl.layers as tl
    from trax_rl import optimizers
    from trax_rl.supervised import training
    from supervised_helpers import make_data, make_model, pipeline

    out = sys.argv[1]
    x, y = make_data()
    task = training.TrainTask(pipeline(x, y)(), tl.WeightedCategoryCrossEntropy(),
                              optimizers.Adam(0.05), n_steps_per_checkpoint=5)
    eval_task = training.EvalTask(pipeline(x, y, seed=7)(), [tl.WeightedCategoryAccuracy()])
    loop = training.Loop(make_model(), task, eval_tasks=[eval_task], output_dir=out)
    loop.run(200 - loop.step)
    np.savez(out + "/final.npz", *jax.tree.leaves(loop.model.weights))
""")


def _start(out):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-c", SCRIPT, out], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _records(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [{k: v for k, v in json.loads(line).items() if "per_second" not in k}
                for line in f]


def _checkpointed(out):
    return os.path.exists(os.path.join(out, "model.ckpt"))


def _logged_step_30(out):
    try:
        return any(r.get("step", 0) >= 30 for r in _records(out))
    except (OSError, ValueError):  # Not written yet, or a line half written.
        return False


@pytest.mark.slow
@pytest.mark.parametrize("kill_when", [_checkpointed, _logged_step_30])
def test_sigkill_and_restart_is_bit_exact(tmp_path, kill_when):
    """Killed right after its first checkpoint, or right as step 30's metrics land (before
    or after that step's checkpoint), then restarted: same weights, each step logged once."""
    full, killed = str(tmp_path / "full"), str(tmp_path / "killed")
    assert _start(full).wait(timeout=300) == 0
    process = _start(killed)
    deadline = time.time() + 300
    while not kill_when(killed):
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.005)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not os.path.exists(os.path.join(killed, "final.npz"))
    restarted = _start(killed)
    assert restarted.wait(timeout=300) == 0, restarted.stderr.read()[-2000:]
    a, b = np.load(full + "/final.npz"), np.load(killed + "/final.npz")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert _records(killed) == _records(full)
