"""Sentence encoder throughput on CPU: our all-MiniLM-L6-v2 vs sentence-transformers'.

    python -m experiments.benchmarks.sentence_encoder --peer_python=/work/venv-st/bin/python
        [--n_sentences=1024] [--rounds=3]

Sentences: English UI strings (msgids of 4 to 40 words) from the German gettext catalogs
installed on the machine (`/usr/share/locale/de/LC_MESSAGES/*.mo`), de-duplicated, every
k-th of the sorted list. Both encode the same list with `batch_size=32` after one warm-up
pass over the whole list (ours compiles one program per padded length; theirs warms its
allocator); sentences/s is the median over `--rounds` timed passes. The peer runs in its
own interpreter (`--peer_python`, a benchmark-only venv with torch 2.13.0 CPU and
sentence-transformers, see tests/layers/models/fixtures/make_minilm_reference.py), so
torch never enters the project's venv; it also returns its embeddings, and the largest
difference from ours is printed as a check.
"""

import argparse
import gettext
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from trax_rl import models

PEER_DRIVER = """
import json, statistics, sys, time
import numpy as np, torch
from sentence_transformers import SentenceTransformer
sentences_path, model_dir, rounds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sentences = json.load(open(sentences_path))
model = SentenceTransformer(model_dir, device="cpu")
model.encode(sentences, batch_size=32)
times = []
for _ in range(rounds):
    start = time.perf_counter()
    embeddings = model.encode(sentences, batch_size=32)
    times.append(time.perf_counter() - start)
np.save(out, embeddings)
print(json.dumps({"seconds": statistics.median(times), "torch": torch.__version__,
                  "threads": torch.get_num_threads()}))
"""


def ui_sentences(n):
    """`n` English UI strings of 4 to 40 words from the installed German gettext catalogs."""
    found = set()
    for path in sorted(glob.glob("/usr/share/locale/de/LC_MESSAGES/*.mo")):
        with open(path, "rb") as f:
            try:
                catalog = gettext.GNUTranslations(f)._catalog  # pylint: disable=protected-access
            except (OSError, UnicodeDecodeError):
                continue
        for key in catalog:
            text = key[0] if isinstance(key, tuple) else key
            if isinstance(text, str) and 4 <= len(text.split()) <= 40:
                found.add(" ".join(text.split()))
    found = sorted(found)
    if len(found) < n:
        raise SystemExit(f"only {len(found)} sentences found in the gettext catalogs")
    return found[::len(found) // n][:n]


def time_ours(encoder, sentences, rounds):
    encoder.encode(sentences, batch_size=32)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        embeddings = encoder.encode(sentences, batch_size=32)
        times.append(time.perf_counter() - start)
    return statistics.median(times), embeddings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer_python", default=None)
    parser.add_argument("--n_sentences", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    sentences = ui_sentences(args.n_sentences)
    encoder = models.load_sentence_encoder()
    ours, embeddings = time_ours(encoder, sentences, args.rounds)
    print(f"| contender | sentences/s |\n|---|---:|\n| ours (JAX) | {len(sentences) / ours:.1f} |")
    if args.peer_python:
        with tempfile.TemporaryDirectory() as tmp:
            sentences_path = os.path.join(tmp, "sentences.json")
            with open(sentences_path, "w") as f:
                json.dump(sentences, f)
            out = os.path.join(tmp, "peer.npy")
            result = subprocess.run(
                [args.peer_python, "-c", PEER_DRIVER, sentences_path,
                 str(models.bert.default_model_dir()), str(args.rounds), out],
                check=True, capture_output=True, text=True,
                env={**os.environ, "HF_HUB_OFFLINE": "1"})
            peer = json.loads(result.stdout.strip().splitlines()[-1])
            difference = float(np.abs(np.load(out) - embeddings).max())
        print(f"| sentence-transformers (torch {peer['torch']}, {peer['threads']} threads) | "
              f"{len(sentences) / peer['seconds']:.1f} |")
        print(f"ratio ours/theirs: {peer['seconds'] / ours:.2f}x; "
              f"max |ours - theirs| over {len(sentences)} sentences: {difference:.1e}")
    print(f"# {len(sentences)} sentences, mean {np.mean([len(s.split()) for s in sentences]):.1f} "
          f"words, batch 32, {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
