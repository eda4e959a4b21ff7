"""A bag-of-words logistic-regression baseline for text classification, in JAX + optax.

Words are lowercased runs of letters, digits and apostrophes (HTML `<br />` removed);
the vocabulary is every word in at least `min_count` training documents, at most
`max_words` of them. A document's features are the binary presence of each word;
the model is `p(y=1) = sigmoid(w . x + b)`, fit by full-batch Adam on the mean
logistic loss plus `l2 * |w|^2`. The sparse features are gathered per document
(`segment_sum`), so 20k reviews over a 30k-word vocabulary train in seconds.
"""

import collections
import re

import numpy as np

__all__ = ["fit_and_score", "words"]

_WORD = re.compile(r"[a-z0-9']+")


def words(text):
    """The set of a document's words."""
    return set(_WORD.findall(text.lower().replace("<br />", " ")))


def _sparse(docs, vocab):
    doc_ids, word_ids = [], []
    for i, doc in enumerate(docs):
        ids = [vocab[w] for w in doc if w in vocab]
        doc_ids.extend([i] * len(ids))
        word_ids.extend(ids)
    return np.asarray(doc_ids, np.int32), np.asarray(word_ids, np.int32)


def fit_and_score(train_texts, train_labels, test_texts, test_labels, *, min_count=2,
                  max_words=30000, l2=1e-4, learning_rate=0.05, n_iterations=300):
    """Fits on the train texts; returns the accuracy on the test texts."""
    import jax
    import jax.numpy as jnp
    import optax

    train_docs = [words(t) for t in train_texts]
    counts = collections.Counter(w for doc in train_docs for w in doc)
    kept = [w for w, c in counts.most_common(max_words) if c >= min_count]
    vocab = {w: i for i, w in enumerate(kept)}
    train_x = _sparse(train_docs, vocab)
    test_x = _sparse([words(t) for t in test_texts], vocab)
    y = jnp.asarray(train_labels, jnp.float32)

    def logits(params, x, n_docs):
        doc_ids, word_ids = x
        return jax.ops.segment_sum(params["w"][word_ids], doc_ids, n_docs) + params["b"]

    def loss(params):
        z = logits(params, train_x, len(train_texts))
        # Mean logistic loss: softplus(z) - y * z = -log sigmoid((2y - 1) z).
        return jnp.mean(jax.nn.softplus(z) - y * z) + l2 * jnp.sum(params["w"] ** 2)

    optimizer = optax.adam(learning_rate)
    params = {"w": jnp.zeros(len(vocab)), "b": jnp.zeros(())}

    @jax.jit
    def step(params, opt_state):
        grads = jax.grad(loss)(params)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state

    opt_state = optimizer.init(params)
    for _ in range(n_iterations):
        params, opt_state = step(params, opt_state)
    predictions = np.asarray(logits(params, test_x, len(test_texts))) > 0
    return float((predictions == np.asarray(test_labels, bool)).mean())
