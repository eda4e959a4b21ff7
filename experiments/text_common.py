"""What the supervised text scripts (sentiment, lm) share: flags, vocab, CLI errors.

A script is a frozen `Args` dataclass (field docstrings are the `--help`) and a
`run(args)` function; `main(run, Args)` parses the flags with tyro and turns a
`UsageError` (or a missing dataset/vocab file) into one line on stderr and exit code 2.
"""

import dataclasses
import os
import sys

__all__ = ["TextArgs", "UsageError", "main", "prepare_run", "vocab_file"]


class UsageError(ValueError):
    """Bad input from the command line: reported in one line, exit code 2."""


@dataclasses.dataclass(frozen=True)
class TextArgs:
    """Flags every supervised text script shares."""

    n_steps: int = 2000
    """Training steps in all (a resumed run trains only the remaining ones)."""
    output_dir: str = ""
    """Run directory: config.json, model.ckpt, metrics.jsonl, TensorBoard events,
    summary.json (default: runs/<script>_<model>, or a new -2, -3, ... one)."""
    resume: bool = False
    """Continue the run in --output_dir exactly where it stopped (up to --n_steps)."""
    overwrite: bool = False
    """Replace the run in --output_dir."""
    data_dir: str = ""
    """Where datasets and vocabularies are prepared (default: $TFDS_DATA_DIR or
    ~/tensorflow_datasets)."""
    vocab_size: int = 8192
    """SentencePiece vocabulary size (trained once on the training text, then reused)."""
    seed: int = 0
    """Seed of the weights, the shuffles and the step keys."""
    wandb: bool = False
    """Log to Weights & Biases (offline when not logged in)."""
    wandb_project: str = "trax_rl"
    """W&B project name."""
    progress: bool = True
    """Show a progress bar."""
    compilation_cache: str = "~/.cache/trax_rl/jax"
    """JAX persistent compilation cache directory ('' turns it off)."""


def vocab_file(data_dir, name, vocab_size, texts_fn):
    """`data_dir/vocabs/<name>_<vocab_size>.model`, trained from `texts_fn()` if missing."""
    from trax_rl import data

    path = os.path.join(data_dir, "vocabs", f"{name}_{vocab_size}.model")
    if not os.path.exists(path):
        print(f"training a {vocab_size}-piece SentencePiece vocabulary -> {path}", flush=True)
        try:
            data.train_vocab(texts_fn(), vocab_size, "unigram", vocab_file=path)
        except ValueError as e:
            raise UsageError(str(e)) from None
    return path


CHECKPOINT = "model.ckpt"
# Flags that may change when a run is resumed: they do not change what it computes.
RESUMABLE = ("n_steps", "resume", "overwrite", "progress", "wandb", "wandb_project",
             "compilation_cache", "output_dir", "baselines", "n_samples", "n_bleu", "sentence")


def prepare_run(args, name, config):
    """The run folder for `args` (fresh, overwritten or resumed), with config.json saved."""
    from trax_rl import runs

    output_dir = os.path.expanduser(args.output_dir) if args.output_dir else \
        runs.default_run_dir(name)
    if args.resume or args.overwrite:
        # runs' run files name the RL checkpoint; the Loop's is model.ckpt.
        has_ckpt = os.path.exists(os.path.join(output_dir, CHECKPOINT))
        if args.overwrite and has_ckpt:
            os.remove(os.path.join(output_dir, CHECKPOINT))
    elif os.path.exists(os.path.join(output_dir, CHECKPOINT)):
        raise UsageError(f"{output_dir} holds an earlier run: pass --resume to continue it, "
                         f"--overwrite to replace it, or another --output_dir")
    runs.prepare_run_dir(output_dir, resume=args.resume, overwrite=args.overwrite,
                         checkpoint=CHECKPOINT)
    config_path = os.path.join(output_dir, "config.json")
    if args.resume and os.path.exists(config_path):
        runs.check_resume(runs.read_json(config_path), config, ignore=RESUMABLE)
    runs.write_json(config_path, config)
    return output_dir


def run_loop(args, make_model, train_task, eval_task, output_dir, config):
    """Trax's `Loop` over `make_model(mode)` in `output_dir` (resuming what is there), run
    up to `--n_steps`; the caller closes it when done with it."""
    from trax_rl.supervised import training

    loop = training.Loop(make_model("train"), train_task, eval_model=make_model("eval"),
                         eval_tasks=[eval_task], output_dir=output_dir, random_seed=args.seed,
                         progress_bar=args.progress, wandb=args.wandb,
                         wandb_project=args.wandb_project, config=config)
    loop.run(max(0, args.n_steps - loop.step))
    return loop


def main(run, args_cls, argv=None):
    """Parses flags into `args_cls` and calls `run(args)`; bad input exits with code 2."""
    import tyro

    from trax_rl import checkpoint
    from trax_rl import runs

    argv = sys.argv[1:] if argv is None else argv
    try:
        args = tyro.cli(args_cls, args=argv, use_underscores=True)
        for name in ("n_steps", "vocab_size"):
            if getattr(args, name) < 1:
                raise UsageError(f"--{name} must be >= 1, got {getattr(args, name)}")
        return run(args)
    except (UsageError, FileNotFoundError, runs.RunError, checkpoint.CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
