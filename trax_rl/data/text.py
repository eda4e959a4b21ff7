"""Text to token ids and back: vocabularies, `Tokenize`, `Detokenize`, `train_vocab`.

Three vocabulary types, named by `vocab_type`:

- 'sentencepiece': a SentencePiece model file (`vocab_file` inside `vocab_dir`),
  e.g. one trained offline by `train_vocab`. Nothing is downloaded: there is no
  `gs://` default, a missing file is a one-line error naming the path.
- 'char': one id per Unicode code point (id = `ord(c)`).
- 'bytes': one id per UTF-8 byte (0..255).

`n_reserved_ids` shifts every id up (ids below it stay free, e.g. for padding
and EOS), as in Trax. Vocabularies trained by `train_vocab` already reserve
pad = 0, EOS = 1 and UNK = 2, T5's convention, so the zero padding added by
`BucketByLength` never collides with a real token.
"""

import functools
import io
import os
import tempfile

import numpy as np

__all__ = ["ConvertToUnicode", "Detokenize", "Tokenize", "detokenize", "tokenize",
           "train_vocab", "vocab_size"]

VOCAB_TYPES = ("sentencepiece", "char", "bytes")


class _CharVocab:
    vocab_size = 0x110000

    def encode(self, text):
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids if 0 < i < self.vocab_size)


class _BytesVocab:
    vocab_size = 256

    def encode(self, text):
        return list(text.encode("utf-8"))

    def decode(self, ids):
        return bytes(i for i in ids if 0 < i < 256).decode("utf-8", errors="replace")


class _SentencePieceVocab:
    def __init__(self, path):
        import sentencepiece as spm  # Lazy: only sentencepiece vocabularies need it.
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.Load(path)
        except (OSError, RuntimeError) as e:
            raise ValueError(f"vocab_file {path} is not a SentencePiece model: {e}") from None
        self.vocab_size = self._sp.GetPieceSize()

    def encode(self, text):
        return self._sp.EncodeAsIds(text)

    def decode(self, ids):
        return self._sp.DecodeIds([i for i in ids if 0 <= i < self.vocab_size])


def _vocab(vocab_type, vocab_file, vocab_dir):
    if vocab_type not in VOCAB_TYPES:
        raise ValueError(f"vocab_type={vocab_type!r} is not supported; use one of "
                         f"{', '.join(VOCAB_TYPES)}")
    if vocab_type == "char":
        return _CharVocab()
    if vocab_type == "bytes":
        return _BytesVocab()
    if not vocab_file:
        raise ValueError("vocab_type='sentencepiece' needs vocab_file= (train one with "
                         "trax_rl.data.train_vocab)")
    path = os.path.expanduser(os.path.join(vocab_dir or "", vocab_file))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"vocab file {path} does not exist (trax_rl never downloads "
                                f"vocabularies: train one with trax_rl.data.train_vocab)")
    return _cached_sentencepiece(os.path.abspath(path), os.path.getmtime(path))


@functools.lru_cache(maxsize=16)
def _cached_sentencepiece(path, mtime):
    del mtime  # Part of the cache key only: a rewritten file is loaded again.
    return _SentencePieceVocab(path)


def _as_text(x):
    if isinstance(x, bytes):
        return x.decode("utf-8")
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return _as_text(x.item())
    if isinstance(x, str):
        return x
    raise TypeError(f"Tokenize expects str or bytes, got {type(x).__name__}: {x!r:.80}")


def tokenize(stream, keys=None, vocab_type="sentencepiece", vocab_file=None,
             vocab_dir=None, n_reserved_ids=0):
    """Maps the strings in a stream to int32 arrays of token ids.

    Args:
      stream: iterator of strings/bytes, or of tuples/dicts holding some.
      keys: tuple positions (or dict keys) to tokenize; None tokenizes all.
      vocab_type: 'sentencepiece', 'char' or 'bytes'.
      vocab_file: SentencePiece model file name (or path).
      vocab_dir: directory that holds `vocab_file` (optional).
      n_reserved_ids: offset added to every id.

    Yields:
      The examples with the strings at `keys` replaced by 1-D int32 arrays.
    """
    vocab = _vocab(vocab_type, vocab_file, vocab_dir)

    def encode(x):
        return np.asarray(vocab.encode(_as_text(x)), np.int32) + n_reserved_ids

    for example in stream:
        yield _map_at_keys(encode, example, keys)


def Tokenize(keys=None, vocab_type="sentencepiece", vocab_file=None,  # noqa: N802
             vocab_dir=None, n_reserved_ids=0):
    """Returns a stream function mapping text to token ids; see `tokenize`."""
    _vocab(vocab_type, vocab_file, vocab_dir)  # Fail now, not at the first example.
    return lambda g: tokenize(g, keys=keys, vocab_type=vocab_type, vocab_file=vocab_file,
                              vocab_dir=vocab_dir, n_reserved_ids=n_reserved_ids)


def _map_at_keys(fn, example, keys):
    """`fn` applied to an example's fields at `keys` (indices or dict keys; None: all)."""
    if isinstance(example, (list, tuple)):
        return tuple(fn(x) if keys is None or i in keys else x for i, x in enumerate(example))
    if isinstance(example, dict):
        return {k: fn(v) if keys is None or k in keys else v for k, v in example.items()}
    return fn(example)


def detokenize(x, vocab_type="sentencepiece", vocab_file=None, vocab_dir=None,
               n_reserved_ids=0):
    """Maps a 1-D array or list of token ids back to a string (padding dropped)."""
    vocab = _vocab(vocab_type, vocab_file, vocab_dir)
    ids = np.asarray(x).astype(np.int64).reshape(-1) - n_reserved_ids
    return str(vocab.decode(ids.tolist()))


def Detokenize(keys=None, vocab_type="sentencepiece", vocab_file=None,  # noqa: N802
               vocab_dir=None, n_reserved_ids=0):
    """Returns a stream function mapping token-id arrays at `keys` back to strings."""
    _vocab(vocab_type, vocab_file, vocab_dir)

    def decode(x):
        return detokenize(x, vocab_type, vocab_file, vocab_dir, n_reserved_ids)

    def detokenized(stream):
        for example in stream:
            yield _map_at_keys(decode, example, keys)
    return detokenized


def vocab_size(vocab_type="sentencepiece", vocab_file=None, vocab_dir=None,
               n_reserved_ids=0):
    """The number of ids a model must accept: the vocabulary's size plus reserved ids."""
    return _vocab(vocab_type, vocab_file, vocab_dir).vocab_size + n_reserved_ids


def ConvertToUnicode(keys=None):  # noqa: N802
    """Returns a stream function decoding UTF-8 bytes at `keys` (default all) to str."""
    def convert(x):
        if isinstance(x, np.ndarray) and x.ndim == 0:
            x = x.item()
        return x.decode("utf-8") if isinstance(x, bytes) else x

    def converted(stream):
        for example in stream:
            yield _map_at_keys(convert, example, keys)
    return converted


def train_vocab(texts, vocab_size, model_type="unigram", *, vocab_file,  # noqa: PLR0913
                character_coverage=1.0, max_sentence_length=1 << 16,
                input_sentence_size=0, num_threads=1):
    """Trains a SentencePiece vocabulary offline and writes it to `vocab_file`.

    Args:
      texts: iterable of str/bytes, one training sentence (or document) each.
      vocab_size: number of pieces, the 4 reserved ones included.
      model_type: 'unigram', 'bpe', 'char' or 'word'.
      vocab_file: where the model is written (atomically); conventionally `*.model`.
      character_coverage: share of characters the vocabulary must cover.
      max_sentence_length: texts longer than this (in bytes) are skipped.
      input_sentence_size: sample this many texts (0: use all).
      num_threads: training threads; 1 keeps training reproducible.

    Returns:
      The path written. Ids: pad 0, EOS 1, UNK 2; no BOS.
    """
    import sentencepiece as spm

    if model_type not in ("unigram", "bpe", "char", "word"):
        raise ValueError(f"model_type={model_type!r} is not supported; use unigram, bpe, "
                         f"char or word")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.Train(
            sentence_iterator=(_as_text(t) for t in texts), model_writer=model,
            vocab_size=vocab_size, model_type=model_type,
            character_coverage=character_coverage, max_sentence_length=max_sentence_length,
            input_sentence_size=input_sentence_size, shuffle_input_sentence=False,
            num_threads=num_threads, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
            minloglevel=2)
    except RuntimeError as e:
        raise ValueError(f"SentencePiece training failed: {e}") from None
    path = os.path.abspath(os.path.expanduser(vocab_file))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".vocab.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(model.getvalue())
    os.replace(tmp, path)
    return path
