"""Encoders as registry objects, and embedding a text column outside any model.

An encoder of a workspace is a registered model version like any other (versioned, aliased,
audited, digest-checked), tagged ``carnet.kind=encoder``: a
:class:`~carnet.training.text.TextEmbedding` over an installed encoder plugin, fitted on a dataset
column when the plugin learns (TF-IDF), with its identity (package, version, digest of the
weights) inside the file. ``preprocess.text.encoder: NAME`` in a spec uses it frozen, as it was
registered; ``carnet embed`` turns a column into vectors with it or with an installed plugin.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from carnet.domain import ModelRef, ModelVersion
from carnet.errors import InvalidInput, NotFound
from carnet.services.context import ServiceContext
from carnet.services.datasets import DatasetService
from carnet.services.registry import RegistryService

__all__ = ["ENCODER_TAG", "EncoderService"]

#: the tag that makes a registered model version an encoder
ENCODER_TAG = "carnet.kind"
ProgressFn = Callable[[str, int, int], None]


def is_encoder(mv: ModelVersion) -> bool:
    """Whether a registered version is an encoder (``carnet encoders add``)."""
    return mv.tags.get(ENCODER_TAG) == "encoder"


class EncoderService:
    """Registered encoders and embeddings of text columns."""

    def __init__(self, ctx: ServiceContext, registry: RegistryService, datasets: DatasetService) -> None:
        self.ctx = ctx
        self.registry = registry
        self.datasets = datasets

    def _texts(self, data: str, column: str, project: str) -> tuple[str, Any]:
        """The dataset version (a file is registered first) and its rows, checked to have ``column``."""
        version, frame = self.datasets.load_frame(self.datasets.resolve(data, project))
        if column not in frame.columns:
            raise InvalidInput(
                f"dataset {version.ref} has no column {column!r}; "
                f"columns: {', '.join(map(str, frame.columns[:20]))}",
                field="column",
            )
        return version.ref, frame

    def add(
        self,
        name: str,
        encoder: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: str | None = None,
        column: str | None = None,
        project: str = "default",
        description: str = "",
    ) -> ModelVersion:
        """Register an encoder as the next version of ``name``: the installed plugin ``encoder``
        with ``params``, fitted on ``data``'s ``column`` when the plugin learns from texts.

        Raises:
            InvalidInput: unknown plugin or setting; a learning encoder without data, or data without
                the column.
            NotFound: unknown dataset.
        """
        from carnet.plugins.loader import registry
        from carnet.training.text import TextEmbedding

        try:
            plugin = registry("encoder").get(encoder)
        except NotFound as exc:
            raise InvalidInput(
                f"unknown encoder {encoder!r}; installed: {', '.join(registry('encoder').names())}",
                field="encoder",
            ) from exc
        settings = dict(params or {})
        plugin.validate(settings)
        if (data is None) != (column is None):
            raise InvalidInput(
                "give both the data and its text column (--fit-on DATA --column NAME)", field="column"
            )
        if plugin.trainable and data is None:
            raise InvalidInput(
                f"encoder {encoder} learns from texts: give the data to fit it on "
                "(--fit-on DATA --column NAME)",
                field="data",
            )
        import pandas as pd

        texts: Any = pd.DataFrame({"text": ["an example text"]})
        source = None
        if data is not None and column is not None:
            source, frame = self._texts(data, column, project)
            texts = frame[[column]].rename(columns={column: "text"})
        fitted = TextEmbedding(encoder, settings or None).fit(texts)
        identity = dict(fitted.identity_)
        tags = {
            ENCODER_TAG: "encoder",
            "encoder.plugin": encoder,
            "encoder.dimension": str(fitted.n_features_out_),
            "encoder.package": identity.get("package", ""),
            "encoder.version": identity.get("version", ""),
        }
        if identity.get("digest"):
            tags["encoder.digest"] = identity["digest"]
        if source:
            tags["encoder.fitted_on"] = f"{source}:{column}"
        return self.registry.register_object(
            fitted, name, texts.head(3), project=project, description=description, tags=tags
        )

    def list(self) -> list[ModelVersion]:
        """The latest version of every registered encoder."""
        out = []
        for model in self.registry.list_models():
            versions = [v for v in self.registry.versions(model.name) if is_encoder(v)]
            if versions:
                out.append(versions[-1])
        return out

    def get(self, ref: str) -> ModelVersion:
        """A registered encoder's version (``NAME``, ``NAME/2``, ``NAME@alias``).

        Raises:
            NotFound: no such version, or it is a model, not an encoder.
        """
        mv = self.registry.resolve(ModelRef.parse(ref))
        if not is_encoder(mv):
            raise NotFound(
                f"{mv.ref} is a model, not an encoder; list encoders with: carnet encoders list",
                field="encoder",
            )
        return mv

    def resolve(self, name: str) -> tuple[Any, dict[str, Any]] | None:
        """The frozen transformer of a registered encoder ``name`` and what it is built on; None when
        ``name`` is not a registered encoder (it may be an installed plugin)."""
        try:
            mv = self.get(name)
        except (NotFound, InvalidInput):
            return None
        from sklearn.frozen import FrozenEstimator

        fitted, _ = self.registry.load(mv.ref)
        record = {"encoder": mv.ref, "plugin": fitted.encoder, **dict(fitted.identity_)}
        return FrozenEstimator(fitted), record

    def transformer(self, encoder: str) -> tuple[Any, dict[str, Any]]:
        """A ready transformer for ``encoder`` (registered, else an installed plugin) and its identity.

        Raises:
            InvalidInput: neither; a learning plugin (it needs registering with data first).
        """
        found = self.resolve(encoder)
        if found is not None:
            return found
        from carnet.plugins.loader import registry
        from carnet.training.text import TextEmbedding

        if encoder not in registry("encoder").names():
            raise InvalidInput(
                f"{encoder!r} is neither a registered encoder (carnet encoders list) nor an installed one "
                f"({', '.join(registry('encoder').names())})",
                field="encoder",
            )
        if registry("encoder").get(encoder).trainable:
            raise InvalidInput(
                f"encoder {encoder} learns from texts: register it fitted first, e.g. carnet encoders add "
                f"my-{encoder} --encoder {encoder} --fit-on DATA --column TEXT",
                field="encoder",
            )
        fitted = TextEmbedding(encoder).fit([])
        return fitted, {"encoder": encoder, "plugin": encoder, **dict(fitted.identity_)}

    def embed(
        self,
        encoder: str,
        data: str,
        column: str,
        out: str | Path,
        *,
        keep: Sequence[str] = (),
        batch_rows: int = 1024,
        project: str = "default",
        progress: ProgressFn | None = None,
    ) -> dict[str, Any]:
        """Write ``data``'s ``column`` as vectors to the Parquet file ``out``: the ``keep`` columns, then
        ``embedding`` (a fixed-size list of float32), in batches of ``batch_rows``.

        Returns what was written: rows, dimension, the encoder's identity, the file and the time.
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        if (
            isinstance(batch_rows, bool)
            or not isinstance(batch_rows, int)
            or not 1 <= batch_rows <= 1_000_000
        ):
            raise InvalidInput(
                f"batch_rows must be from 1 to 1000000, got {batch_rows!r}", field="batch_rows"
            )
        transformer, identity = self.transformer(encoder)
        source, frame = self._texts(data, column, project)
        missing = [c for c in keep if c not in frame.columns]
        if missing:
            raise InvalidInput(
                f"dataset {source} has no column(s) {', '.join(missing)} to keep", field="keep"
            )
        started = time.perf_counter()
        total = len(frame)
        writer = None
        dimension = 0
        target = Path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        try:
            for start in range(0, max(total, 1), batch_rows):
                part = frame.iloc[start : start + batch_rows]
                vectors = np.asarray(transformer.transform(part[[column]]), dtype=np.float32)
                dimension = vectors.shape[1]
                arrays = [pa.array(part[c].tolist()) for c in keep]
                flat = pa.array(vectors.reshape(-1), type=pa.float32())
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, dimension))
                table = pa.Table.from_arrays(arrays, names=[*keep, "embedding"])
                if writer is None:
                    writer = pq.ParquetWriter(partial, table.schema)
                writer.write_table(table)
                if progress is not None:
                    progress("embed", min(start + batch_rows, total), total)
        except BaseException:
            if writer is not None:
                writer.close()
            partial.unlink(missing_ok=True)
            raise
        if writer is not None:
            writer.close()
        partial.replace(target)  # never a half-written file under the asked name
        return {
            "rows": total,
            "dimension": dimension,
            "column": column,
            "dataset": source,
            "out": str(target),
            "seconds": time.perf_counter() - started,
            **identity,
        }
