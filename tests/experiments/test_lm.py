"""experiments.lm on a tiny corpus the test writes (no network, no package)."""

import math

import pytest

from experiments import lm

LINES = ["to be or not to be that is the question", "all the world is a stage",
         "the quality of mercy is not strained", "now is the winter of our discontent"]


@pytest.fixture
def tiny_corpus(tmp_path, monkeypatch):
    files = []
    for i in range(10):
        path = tmp_path / f"work_{i:02d}_gut.txt"
        path.write_text("\n".join(LINES[(i + j) % 4] for j in range(12)) + "\n")
        files.append(str(path))
    monkeypatch.setattr(lm, "shakespeare_files", lambda: files)
    return tmp_path


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_lm_trains_scores_and_samples(tiny_corpus, capsys, model):
    argv = [f"--data_dir={tiny_corpus / 'data'}", f"--output_dir={tiny_corpus / 'run'}",
            f"--model={model}", "--n_steps=3", "--vocab_size=40", "--seq_len=16",
            "--batch_size=4", "--d_model=16", "--n_heads=2", "--n_steps_per_checkpoint=2",
            "--n_eval_batches=1", "--n_samples=2", "--sample_length=6", "--no_progress",
            "--compilation_cache="]
    summary = lm.text_common.main(lm.run, lm.Args, argv)
    out = capsys.readouterr().out
    assert "Step      2: eval                    Perplexity |" in out
    assert summary["steps"] == 3
    assert math.isfinite(summary["held_out_perplexity"]) and summary["held_out_tokens"] > 0
    # A few steps cannot beat a uniform guess by much, nor be far worse.
    assert summary["held_out_perplexity"] < 2 * summary["vocab_size"]
    assert len(summary["samples"]) == 2 and out.count("sample: ") == 2


def test_lm_rejects_an_unknown_model(tiny_corpus, capsys):
    with pytest.raises(SystemExit) as exit_info:
        lm.text_common.main(lm.run, lm.Args, [f"--output_dir={tiny_corpus / 'run'}",
                                              "--model=gpt"])
    assert exit_info.value.code == 2
    assert "--model must be one of lstm, transformer, got 'gpt'" in capsys.readouterr().err
    assert not (tiny_corpus / "run").exists()


def test_split_holds_out_every_tenth_work():
    files = [f"f{i:02d}" for i in range(42)]
    train, held_out = lm.split_files(files)
    assert held_out == ["f09", "f19", "f29", "f39"] and len(train) == 38
