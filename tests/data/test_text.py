"""Tokenization: round trips for every vocabulary type, SentencePiece training, errors."""

import numpy as np
import pytest

from trax_rl import data

TEXTS = ["the cat sat on the mat", "a dog ate my homework", "the movie was great",
         "terrible acting and a boring plot", "what a wonderful film"] * 40


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "toy.model"
    return str(data.train_vocab(TEXTS, vocab_size=36, model_type="unigram", vocab_file=path))


def test_sentencepiece_round_trip_and_reserved_ids(vocab):
    (ids, label), = data.tokenize(iter([("the cat sat", 1)]), keys=[0], vocab_file=vocab)
    assert ids.dtype == np.int32 and label == 1
    assert ids.min() >= 3  # 0 pad, 1 EOS, 2 UNK are reserved.
    assert data.detokenize(ids, vocab_file=vocab) == "the cat sat"
    # Padding (id 0) does not show in the text.
    assert data.detokenize(np.pad(ids, (0, 4)), vocab_file=vocab) == "the cat sat"
    assert data.vocab_size(vocab_file=vocab) == 36


def test_vocab_dir_and_file_are_joined(vocab):
    import os
    tok = data.Tokenize(vocab_file=os.path.basename(vocab), vocab_dir=os.path.dirname(vocab))
    assert len(next(tok(iter(["a dog"])))) >= 2


@pytest.mark.parametrize("vocab_type", ["char", "bytes"])
def test_char_and_bytes_round_trip(vocab_type):
    text = "Grüße, 世界!"
    ids, = data.Tokenize(vocab_type=vocab_type, n_reserved_ids=2)(iter([(text,)]))
    ids = ids[0]
    assert len(ids) == (len(text) if vocab_type == "char" else len(text.encode()))
    assert data.detokenize(ids, vocab_type=vocab_type, n_reserved_ids=2) == text


def test_detokenize_combinator_and_bytes_input(vocab):
    stream = data.Serial(lambda _: iter([(b"the dog", 0)]), data.ConvertToUnicode(keys=[0]),
                         data.Tokenize(keys=[0], vocab_file=vocab),
                         data.Detokenize(keys=[0], vocab_file=vocab))
    assert next(stream()) == ("the dog", 0)


def test_missing_vocab_file_and_bad_type_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.model does not exist"):
        data.Tokenize(vocab_file="nowhere.model", vocab_dir=str(tmp_path))
    with pytest.raises(ValueError, match="vocab_type='subword' is not supported"):
        data.Tokenize(vocab_type="subword", vocab_file="x")
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        data.tokenize(iter(["x"]), vocab_file=str(bad)).__next__()
