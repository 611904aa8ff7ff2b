"""Text columns as vectors inside a pipeline: :class:`TextEmbedding` over an encoder plugin.

A trainable encoder (TF-IDF) keeps its fitted state in the transformer, so the pipeline stores it
like any other step (skops). A pretrained encoder (GloVe, MiniLM) keeps only its identity (package,
version, digest of the weights): the weights stay in the installed package, are read once per
process, and are checked against the identity the model was built with before any vector is made.
Saved models refer to these classes by import path: keep the module path and class names stable.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from carnet.errors import InvalidInput

__all__ = ["SKOPS_TYPES", "TextEmbedding", "TfidfSVD", "texts_of"]

#: fully qualified names of the classes here, for a skops trusted-types list
SKOPS_TYPES = ("carnet.training.text.TextEmbedding", "carnet.training.text.TfidfSVD")

_PRETRAINED: dict[str, Any] = {}
_LOCK = threading.Lock()


def texts_of(X: Any) -> list[str]:
    """The texts of a one-column frame, a series or a sequence; missing values become ``""``."""
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise ValueError(f"a text encoder takes one column at a time, got {X.shape[1]}")
        X = X.iloc[:, 0]
    array = np.asarray(X, dtype=object)
    if array.ndim > 1 and array.reshape(len(array), -1).shape[1] != 1:
        raise ValueError(
            f"a text encoder takes one column at a time, got {array.reshape(len(array), -1).shape[1]}"
        )
    values = pd.Series(array.reshape(-1))
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]


class TfidfSVD(TransformerMixin, BaseEstimator):
    """TF-IDF over words (or word n-grams), reduced to ``dimension`` dense components (LSA).

    The dimension is capped by what the corpus allows (terms and documents minus one).
    """

    def __init__(self, dimension: int = 128, max_features: int = 20_000, ngram_max: int = 1, min_df: int = 1):
        self.dimension = dimension
        self.max_features = max_features
        self.ngram_max = ngram_max
        self.min_df = min_df

    def fit(self, X: Any, y: Any = None) -> TfidfSVD:
        """Learn the vocabulary, the IDF weights and the components from the texts ``X``."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = texts_of(X)
        self.vectorizer_ = TfidfVectorizer(
            max_features=self.max_features,
            ngram_range=(1, self.ngram_max),
            min_df=self.min_df,
            sublinear_tf=True,
        )
        try:
            counts = self.vectorizer_.fit_transform(texts)
        except ValueError as exc:  # an empty vocabulary
            raise InvalidInput(
                f"the tfidf encoder found no words to learn: {exc}", field="preprocess.text"
            ) from exc
        components = max(1, min(self.dimension, counts.shape[1] - 1, counts.shape[0] - 1))
        self.svd_ = TruncatedSVD(n_components=components, random_state=0).fit(counts)
        self.n_features_out_ = components
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Dense ``(n, n_features_out_)`` vectors, each of unit length (zero for a text of unknown words)."""
        out = self.svd_.transform(self.vectorizer_.transform(texts_of(X)))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(np.divide(out, norms, out=np.zeros_like(out), where=norms > 0))


def _pretrained(encoder: str, params: dict[str, Any], identity: dict[str, str]) -> Any:
    """The pretrained encoder's transformer, loaded once per process, refused when its weights are
    not the ones ``identity`` (what a model was built with) names."""
    from carnet.plugins.loader import registry

    key = json.dumps([encoder, params], sort_keys=True, default=str)
    with _LOCK:
        found = _PRETRAINED.get(key)
        if found is None:
            plugin = registry("encoder").get(encoder)
            found = _PRETRAINED[key] = (plugin.transformer(params).fit([]), dict(plugin.identity(params)))
    transformer, now = found
    if identity and now.get("digest") != identity.get("digest"):
        raise InvalidInput(
            f"encoder {encoder!r} has other weights than the model was built with "
            f"({identity.get('package')} {identity.get('version')}, "
            f"{identity.get('digest', '')[:23]}); "
            f"install {identity.get('package')}=={identity.get('version')}",
            field="encoder",
        )
    return transformer


class TextEmbedding(TransformerMixin, BaseEstimator):
    """One text column -> vectors by the encoder plugin ``encoder`` with ``params``.

    Fitted, it records ``identity_`` (what the vectors are built on) and ``n_features_out_``; a
    trainable encoder's fitted state is ``inner_``.
    """

    def __init__(self, encoder: str = "tfidf", params: dict[str, Any] | None = None) -> None:
        self.encoder = encoder
        self.params = params

    def _plugin(self) -> Any:
        from carnet.plugins.loader import registry

        plugin = registry("encoder").get(self.encoder)
        plugin.validate(dict(self.params or {}))
        return plugin

    def fit(self, X: Any, y: Any = None) -> TextEmbedding:
        """Fit a trainable encoder on the texts of ``X``; for a pretrained one, record its identity."""
        plugin = self._plugin()
        params = dict(self.params or {})
        self.trainable_ = bool(plugin.trainable)
        self.identity_ = dict(plugin.identity(params))
        self.columns_ = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else ["text"]
        if self.trainable_:
            self.inner_ = plugin.transformer(params).fit(texts_of(X))
        self.n_features_out_ = int(self._vectors(["a"]).shape[1])
        return self

    def _vectors(self, texts: list[str]) -> np.ndarray:
        if self.trainable_:
            out = self.inner_.transform(texts)
        else:
            out = _pretrained(self.encoder, dict(self.params or {}), self.identity_).transform(texts)
        if hasattr(out, "toarray"):
            out = out.toarray()
        return np.asarray(out, dtype=np.float64)

    def transform(self, X: Any) -> np.ndarray:
        """``(n, n_features_out_)`` float vectors."""
        return self._vectors(texts_of(X))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<column>_e0`` ... one name per dimension."""
        column = (list(input_features) if input_features is not None else self.columns_)[0]
        return np.asarray([f"{column}_e{i}" for i in range(self.n_features_out_)], dtype=object)
