"""The Loop on 2 forced CPU devices computes what 1 device does; W&B offline runs."""

import glob
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    assert len(jax.local_devices()) == 2, jax.local_devices()
    import trax_rl.layers as tl
    from trax_rl import optimizers
    from trax_rl.supervised import training
    from supervised_helpers import make_data, make_model, pipeline

    x, y = make_data()
    results = []
    for n in (1, 2):
        task = training.TrainTask(pipeline(x, y)(), tl.WeightedCategoryCrossEntropy(),
                                  optimizers.Adam(0.05))
        loop = training.Loop(make_model(), task, n_devices=n)
        assert loop.n_devices == n
        loop.run(8)
        results.append(jax.tree.map(np.asarray, loop.model.weights))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6), *results)
    try:
        task = training.TrainTask(pipeline(x, y, batch_size=3)(),
                                  tl.WeightedCategoryCrossEntropy(), optimizers.Adam(0.05))
        training.Loop(make_model(), task, n_devices=2).run(1)
        raise SystemExit("an odd batch was split over 2 devices")
    except ValueError as e:
        assert "divisible by 2" in str(e), e
    print("ok")
""")


def test_two_forced_devices_match_one():
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(__file__),
                                         env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_wandb_offline_run_is_written(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    import trax_rl.layers as tl
    from trax_rl import optimizers
    from trax_rl.supervised import training
    from supervised_helpers import make_data, make_model, pipeline

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    x, y = make_data()
    task = training.TrainTask(pipeline(x, y)(), tl.WeightedCategoryCrossEntropy(),
                              optimizers.Adam(0.05), n_steps_per_checkpoint=2)
    out = tmp_path / "run"
    loop = training.Loop(make_model(), task, output_dir=str(out), wandb=True,
                         config={"lr": 0.05})
    loop.run(2)
    loop.close()
    runs = glob.glob(str(out / "wandb" / "offline-run-*"))
    assert runs, os.listdir(out)
    assert glob.glob(os.path.join(runs[0], "*.wandb"))
