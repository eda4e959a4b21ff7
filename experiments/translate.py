"""English -> German translation on gettext catalogs: `python -m experiments.translate`.

Data: the gettext catalogs of installed software, `/usr/share/locale/de/LC_MESSAGES/*.mo`
(human-translated UI strings, read with `gettext.GNUTranslations(f)._catalog`). Plural
entries, empty strings, multi-line strings and strings over `--max_chars` characters
are dropped, `msgctxt` prefixes removed, and each msgid keeps the translation of the
first catalog in sorted file order. Held out: the msgids whose SHA-256 is 0 modulo 20
(a fixed 5%, whatever catalogs are installed). A SentencePiece vocabulary shared by
both languages is trained on the training pairs.

Training: `Tokenize` -> EOS appended to the German side -> `Shuffle` -> `FilterByLength`
-> `BucketByLength` -> `AddLossWeights()`, `trax_rl.models.Transformer` (one shared
embedding, as the seed's ende_wmt32k), `WeightedCategoryCrossEntropy`, Adam with
Trax's warmup and rsqrt decay, `Loop.run`. The loss weights cover the padding after EOS
too (the seed's `AddLossWeights()`): the model learns to emit padding after EOS. The
seed's decoding flow stops at EOS (Trax's default `eos_id=1`) and drops it with `[:-1]`.

The run folder holds the vocabulary (`ende.model`) next to `model.ckpt`. Then the
seed's five lines run on those files (`translate_like_the_seed`), and the
held-out split is translated greedily and scored with sacrebleu's corpus BLEU next to a
copy-the-input baseline (`pip install sacrebleu`).
"""

import dataclasses
import glob
import hashlib
import os
import shutil
import time

_START = time.perf_counter()

import numpy as np  # noqa: E402

from experiments import text_common  # noqa: E402

EOS = 1
VOCAB = "ende.model"  # The vocabulary's copy in the run folder, next to model.ckpt.
CATALOG_DIR = "/usr/share/locale/de/LC_MESSAGES"
# With --max_tokens=64 the last bucket stays empty: three batch shapes, three compilations.
BOUNDARIES = [16, 32, 64]
BATCH_SIZES = [128, 64, 32, 32]


@dataclasses.dataclass(frozen=True)
class Args(text_common.TextArgs):
    """Train a small English->German Transformer on gettext catalogs and score its BLEU."""

    catalog_dir: str = CATALOG_DIR
    """Folder of German .mo catalogs."""
    max_chars: int = 120
    """Longer strings (either side, in characters) are dropped."""
    max_tokens: int = 64
    """Pairs longer than this (either side, in tokens) are not trained on."""
    vocab_size: int = 4096
    """Size of the SentencePiece vocabulary shared by English and German."""
    d_model: int = 128
    """Embedding and attention width."""
    d_ff: int = 512
    """Feed-forward width."""
    n_heads: int = 4
    """Attention heads."""
    n_layers: int = 2
    """Encoder layers, and as many decoder layers."""
    dropout: float = 0.1
    """Dropout rate in training."""
    learning_rate: float = 0.001
    """Peak learning rate of Adam (Trax's linear warmup, then reciprocal-sqrt decay)."""
    n_warmup_steps: int = 500
    """Steps of linear warmup."""
    n_steps_per_checkpoint: int = 500
    """Steps between evals and checkpoints."""
    n_eval_batches: int = 10
    """Held-out batches per periodic eval (cross-entropy and accuracy on real tokens)."""
    n_bleu: int = 0
    """Held-out pairs translated for BLEU (0: all of them)."""
    sentence: str = "The file could not be opened."
    """The sentence the seed's five-line flow translates at the end."""


def _strip_context(msgid):
    return msgid.split("\x04", 1)[-1]  # "context\x04msgid" entries (msgctxt).


def read_catalogs(catalog_dir, max_chars=120):
    """`([(english, german), ...] sorted by English, unreadable files)` from `*.mo` files."""
    import gettext

    files = sorted(glob.glob(os.path.join(catalog_dir, "*.mo")))
    if not files:
        raise FileNotFoundError(f"no .mo catalogs in {catalog_dir}: pass --catalog_dir=<a "
                                f"folder of gettext catalogs>")
    pairs, unreadable = {}, []
    for path in files:
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog  # pylint: disable=protected-access
        except (OSError, UnicodeDecodeError, ValueError) as e:
            unreadable.append(f"{os.path.basename(path)}: {type(e).__name__}")
            continue
        for msgid, msgstr in catalog.items():
            if isinstance(msgid, tuple):
                continue  # Plural forms: (msgid, n).
            en, de = _strip_context(msgid).strip(), msgstr.strip()
            if (en and de and "\n" not in en + de and max(len(en), len(de)) <= max_chars
                    and en not in pairs):
                pairs[en] = de
    return sorted(pairs.items()), unreadable


def is_held_out(english):
    """The fixed 5% held out: SHA-256 of the UTF-8 English string, 0 modulo 20."""
    return int(hashlib.sha256(english.encode("utf-8")).hexdigest(), 16) % 20 == 0


def split_pairs(pairs):
    """`(train, held_out)` lists of pairs, split by `is_held_out`."""
    return ([p for p in pairs if not is_held_out(p[0])], [p for p in pairs if is_held_out(p[0])])


def append_eos(stream):
    """Stream function: `(source, target)` -> `(source, target + [EOS])`."""
    for source, target in stream:
        yield source, np.append(target, EOS).astype(np.int32)


def pipeline(vocab, max_tokens, train, seed=0):
    """Pairs of strings -> bucketed `(source, target, weights)` batches.

    Training weighs every target position (padding after EOS included, see the module
    docstring); evaluation weighs real tokens only.
    """
    from trax_rl import data

    return data.Serial(
        data.Tokenize(vocab_file=vocab, keys=[0, 1]),
        append_eos,
        data.Shuffle(queue_size=1024, seed=seed) if train else [],
        data.FilterByLength(max_length=max_tokens, length_keys=[0, 1]),
        data.BucketByLength(BOUNDARIES, BATCH_SIZES, length_keys=[0, 1]),
        data.AddLossWeights(id_to_mask=None if train else 0))


def transformer(args, n_vocab, mode="train"):
    """The model, with the seed's `Transformer` signature."""
    from trax_rl import models

    return models.Transformer(input_vocab_size=n_vocab, d_model=args.d_model, d_ff=args.d_ff,
                              n_heads=args.n_heads, n_encoder_layers=args.n_layers,
                              n_decoder_layers=args.n_layers, max_len=2 * args.max_tokens + 8,
                              dropout=args.dropout, mode=mode)


def train(args, train_pairs, eval_pairs, vocab, output_dir, config):
    """The data pipelines, tasks and `Loop.run`; returns the closed Loop."""
    import trax_rl.layers as tl
    from trax_rl import data, optimizers
    from trax_rl.supervised import training

    def stream(pairs, is_train):
        en, de = [p[0] for p in pairs], [p[1] for p in pairs]
        return pipeline(vocab, args.max_tokens, is_train, args.seed)(
            data.Arrays(en, de, shuffle=is_train, seed=args.seed)())

    train_task = training.TrainTask(
        stream(train_pairs, True), tl.WeightedCategoryCrossEntropy(),
        optimizers.Adam(args.learning_rate),
        lr_schedule=optimizers.warmup_and_rsqrt_decay(args.n_warmup_steps, args.learning_rate),
        n_steps_per_checkpoint=args.n_steps_per_checkpoint)
    eval_task = training.EvalTask(
        stream(eval_pairs, False),
        [tl.WeightedCategoryCrossEntropy(), tl.WeightedCategoryAccuracy()],
        n_eval_batches=args.n_eval_batches)
    n_vocab = data.vocab_size(vocab_file=vocab)
    loop = text_common.run_loop(args, lambda mode: transformer(args, n_vocab, mode=mode),
                                train_task, eval_task, output_dir, config)
    loop.close()
    return loop


def translate_like_the_seed(args, output_dir, sentence):
    """The seed's "Run a pre-trained Transformer" cell, with the run's files."""
    import trax_rl
    from trax_rl import data

    vocab_dir, vocab_file = output_dir, VOCAB
    model_file = os.path.join(output_dir, text_common.CHECKPOINT)
    # Create a Transformer model.
    model = trax_rl.models.Transformer(
        input_vocab_size=data.vocab_size(vocab_file=vocab_file, vocab_dir=vocab_dir),
        d_model=args.d_model, d_ff=args.d_ff,
        n_heads=args.n_heads, n_encoder_layers=args.n_layers, n_decoder_layers=args.n_layers,
        max_len=2 * args.max_tokens + 8, mode='predict')

    # Initialize using pre-trained weights.
    model.init_from_file(model_file, weights_only=True)

    # Tokenize a sentence.
    tokenized = list(trax_rl.data.tokenize(iter([sentence]),  # Operates on streams.
                                           vocab_dir=vocab_dir,
                                           vocab_file=vocab_file))[0]

    # Decode from the Transformer.
    tokenized = tokenized[None, :]  # Add batch dimension.
    tokenized_translation = trax_rl.supervised.decoding.autoregressive_sample(
        model, tokenized, temperature=0.0)  # Higher temperature: more diverse results.

    # De-tokenize,
    tokenized_translation = tokenized_translation[0][:-1]  # Remove batch and EOS.
    translation = trax_rl.data.detokenize(tokenized_translation,
                                          vocab_dir=vocab_dir,
                                          vocab_file=vocab_file)
    print(translation)
    return translation


def translate_all(model, vocab, sentences, batch_size=64, max_tokens=64):
    """Greedy translations of `sentences` (predict-mode `model`), in their order."""
    from trax_rl import data
    from trax_rl.supervised import decoding

    tokens = [t[:max_tokens] for t in data.tokenize(iter(sentences), vocab_file=vocab)]
    order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
    out = [""] * len(tokens)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        batch = [tokens[i] for i in rows]
        batch += [batch[0]] * (batch_size - len(batch))  # One batch shape per length.
        longest = max(len(t) for t in batch)
        inputs = data.pad_to_max_dims(batch, boundary=1 << max(0, longest - 1).bit_length())
        decoded = decoding.autoregressive_sample(model, inputs, batch_size=batch_size,
                                                 temperature=0.0, max_length=2 * longest + 8,
                                                 eos_id=EOS)
        for i, row in zip(rows, np.asarray(decoded)):
            out[i] = data.detokenize(row, vocab_file=vocab)
    return out


def bleu_report(sources, hypotheses, references):
    """Corpus BLEU (sacrebleu, default 13a tokenization) of the model and of copying the input."""
    try:
        import sacrebleu
    except ImportError:
        raise text_common.UsageError("BLEU needs sacrebleu: pip install sacrebleu") from None
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
            "copy_input_bleu": sacrebleu.corpus_bleu(sources, [references]).score,
            "bleu_pairs": len(references)}


def score_held_out(args, model_file, vocab, held_out):
    """BLEU of greedy translations of the held-out pairs (the first `--n_bleu`)."""
    from trax_rl import data

    pairs = held_out[:args.n_bleu] if args.n_bleu else held_out
    model = transformer(args, data.vocab_size(vocab_file=vocab), mode="predict")
    model.init_from_file(model_file, weights_only=True)
    sources, references = [p[0] for p in pairs], [p[1] for p in pairs]
    hypotheses = translate_all(model, vocab, sources, max_tokens=args.max_tokens)
    for source, hypothesis in list(zip(sources, hypotheses))[:5]:
        print(f"  {source!r} -> {hypothesis!r}")
    return bleu_report(sources, hypotheses, references)


def _check(args):
    for name in ("max_chars", "max_tokens", "d_model", "d_ff", "n_heads", "n_layers",
                 "n_warmup_steps", "n_steps_per_checkpoint", "n_eval_batches"):
        if getattr(args, name) < 1:
            raise text_common.UsageError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.d_model % args.n_heads:
        raise text_common.UsageError(f"--d_model={args.d_model} must be divisible by "
                                     f"--n_heads={args.n_heads}")
    if not 0 <= args.dropout < 1:
        raise text_common.UsageError(f"--dropout must be in [0, 1), got {args.dropout}")


def run(args):
    """Trains, runs the seed's flow, scores held-out BLEU; returns the summary dict."""
    from trax_rl import data, runs

    _check(args)
    pairs, unreadable = read_catalogs(os.path.expanduser(args.catalog_dir), args.max_chars)
    train_pairs, held_out = split_pairs(pairs)
    if not train_pairs or not held_out:
        raise text_common.UsageError(f"{args.catalog_dir} gives {len(train_pairs)} training "
                                     f"and {len(held_out)} held-out pairs; both must be > 0")
    print(f"{len(pairs)} pairs from {args.catalog_dir}: {len(train_pairs)} train, "
          f"{len(held_out)} held out" + (f"; unreadable: {', '.join(unreadable)}"
                                         if unreadable else ""))
    data_dir = os.path.expanduser(args.data_dir or data.default_data_dir())
    runs.use_compilation_cache(args.compilation_cache)
    digest = hashlib.sha256(repr(pairs).encode()).hexdigest()
    vocab = text_common.vocab_file(data_dir, f"catalogs_ende_{digest[:12]}", args.vocab_size,
                                   lambda: (text for pair in train_pairs for text in pair))
    config = {**dataclasses.asdict(args), "pairs_sha256": digest}
    output_dir = text_common.prepare_run(args, "translate_ende", config)
    shutil.copyfile(vocab, os.path.join(output_dir, VOCAB))
    start = time.perf_counter()
    loop = train(args, train_pairs, held_out, vocab, output_dir, config)
    summary = {"steps": loop.step,  # A resumed run times only the steps it ran.
               "train_seconds_this_run": round(time.perf_counter() - start, 1),
               "pairs": len(pairs), "train_pairs": len(train_pairs),
               "held_out_pairs": len(held_out)}
    model_file = os.path.join(output_dir, text_common.CHECKPOINT)
    print(f"the seed's five lines on {args.sentence!r}:")
    summary["sentence"] = args.sentence
    summary["translation"] = translate_like_the_seed(args, output_dir, args.sentence)
    summary.update(score_held_out(args, model_file, vocab, held_out))
    print(f"held-out BLEU: {summary['bleu']:.2f} on {summary['bleu_pairs']} pairs (copying "
          f"the input: {summary['copy_input_bleu']:.2f})")
    summary["wall_seconds"] = round(time.perf_counter() - _START, 1)
    runs.write_json(os.path.join(output_dir, "summary.json"), summary)
    print(runs.files_line(output_dir, ["config.json", "model.ckpt", VOCAB, "metrics.jsonl",
                                       "summary.json"]))
    return summary


if __name__ == "__main__":
    text_common.main(run, Args)
