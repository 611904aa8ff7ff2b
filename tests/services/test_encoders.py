"""Text encoders end to end on real workspaces (and through a live server): registered as versioned
objects, used frozen by specs, recorded in the models built on them, and embedding columns to
Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from carnet.errors import InvalidInput, NotFound

pytestmark = pytest.mark.served

POSITIVE = ["great", "excellent", "love", "wonderful", "perfect", "happy", "recommend"]
NEGATIVE = ["terrible", "awful", "hate", "broken", "refund", "disappointed", "worst"]
NEUTRAL = ["the", "product", "arrived", "box", "delivery", "item", "order", "was", "it", "and"]


def reviews(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Generated product reviews: the label is said by two sentiment words among neutral ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = [*rng.choice(NEUTRAL, 6), *rng.choice(POSITIVE if label else NEGATIVE, 2)]
        rng.shuffle(words)
        rows.append((i, " ".join(words), int(rng.integers(1, 100)), "yes" if label else "no"))
    return pd.DataFrame(rows, columns=["id", "review", "price", "label"])


@pytest.fixture
def data(client: Any, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "reviews.csv"
    reviews().to_csv(path, index=False)
    ref = client.add_dataset(path, "reviews", project="support")[0].ref
    return {"ref": ref, "path": path}


def test_a_registered_encoder_is_versioned_and_says_what_it_is_built_on(
    client: Any, data: dict[str, Any]
) -> None:
    mv = client.add_encoder(
        "rev-tfidf", "tfidf", params={"dimension": 8}, data=data["ref"], column="review", project="support"
    )
    assert mv.ref == "rev-tfidf/1" and mv.tags["carnet.kind"] == "encoder"
    assert mv.tags["encoder.plugin"] == "tfidf" and mv.tags["encoder.dimension"] == "8"
    assert mv.tags["encoder.fitted_on"] == f"{data['ref']}:review"
    assert mv.tags["encoder.package"] == "scikit-learn"
    again = client.add_encoder(
        "rev-tfidf", "tfidf", params={"dimension": 4}, data=data["ref"], column="review"
    )
    assert again.version == 2
    assert [e.ref for e in client.list_encoders()] == ["rev-tfidf/2"]
    assert client.get_encoder("rev-tfidf/1").tags["encoder.dimension"] == "8"
    client.register_model(client.train(_spec(data["ref"], None)).run_id, "not-an-encoder")
    with pytest.raises(NotFound, match="is a model, not an encoder"):
        client.get_encoder("not-an-encoder")


def _spec(ref: str, encoder: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "dataset": ref,
        "task": "binary",
        "target": "label",
        "features": {"exclude": ["id"]},
        "model": "logistic_regression",
        "project": "support",
        "seed": 1,
    }
    if encoder is not None:
        spec["preprocess"] = {"text": {"encoder": encoder, "columns": ["review"]}}
    return spec


def test_a_spec_uses_a_registered_encoder_frozen_and_the_model_records_it(
    client: Any, data: dict[str, Any]
) -> None:
    client.add_encoder("rev-tfidf", "tfidf", params={"dimension": 8}, data=data["ref"], column="review")
    outcome = client.train(_spec(data["ref"], "rev-tfidf"))
    assert outcome.metrics["accuracy"] > 0.9  # the sentiment words are found through the encoder
    mv = client.register_model(outcome.run_id, "sentiment")
    [built] = mv.extra["encoders"]
    assert built["column"] == "review" and built["plugin"] == "tfidf" and built["encoder"] == "rev-tfidf/1"
    assert "review: tfidf (rev-tfidf/1) on scikit-learn" in client.model_card_data("sentiment", 1)["built_on"]
    model = client.load_model("sentiment/1")
    encoder = client.load_model("rev-tfidf/1")
    step = model.steps[0][1].named_transformers_["text_review"].estimator  # frozen: not refitted
    assert step.inner_.vectorizer_.vocabulary_ == encoder.inner_.vectorizer_.vocabulary_
    rows = reviews(10, seed=5).drop(columns=["label"])
    assert set(model.predict(rows)) <= {"yes", "no"}


def test_installed_encoders_work_by_name_and_unknown_ones_are_refused(
    client: Any, data: dict[str, Any]
) -> None:
    outcome = client.train(_spec(data["ref"], "hashing"))
    assert outcome.metrics["accuracy"] > 0.9
    with pytest.raises(InvalidInput, match="neither an installed encoder") as info:
        client.train(_spec(data["ref"], "no-such-encoder"))
    assert info.value.field == "preprocess.text.encoder"
    with pytest.raises(InvalidInput, match="learns from texts: give the data") as info:
        client.add_encoder("x", "tfidf")
    assert info.value.field == "data"
    with pytest.raises(InvalidInput, match="unknown encoder 'bert'"):
        client.add_encoder("x", "bert")
    with pytest.raises(InvalidInput, match="has no setting 'colour'") as info:
        client.add_encoder("x", "hashing", params={"colour": 1})
    assert info.value.field == "preprocess.text.params.colour"


def test_embed_writes_vectors_with_the_kept_columns(
    client: Any, data: dict[str, Any], tmp_path: Path
) -> None:
    client.add_encoder("rev-tfidf", "tfidf", params={"dimension": 8}, data=data["ref"], column="review")
    seen: list[tuple[int, int]] = []
    out = tmp_path / "vectors" / "reviews.parquet"
    result = client.embed(
        "rev-tfidf", data["ref"], "review", out, keep=["id"], batch_rows=100,
        progress=lambda _stage, done, total: seen.append((done, total)),
    )  # fmt: skip
    table = pq.read_table(out)
    assert table.column_names == ["id", "embedding"] and table.num_rows == 240
    assert table.schema.field("embedding").type.list_size == 8 == result["dimension"]
    assert table.column("id").to_pylist() == list(range(240)) and result["rows"] == 240
    vectors = np.asarray(table.column("embedding").to_pylist())
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert seen and seen[-1][0] == seen[-1][1]
    with pytest.raises(InvalidInput, match="has no column 'body'") as info:
        client.embed("rev-tfidf", data["ref"], "body", tmp_path / "x.parquet")
    assert info.value.field == "column" and not (tmp_path / "x.parquet").exists()
    with pytest.raises(InvalidInput, match="register it fitted first"):
        client.embed("tfidf", data["ref"], "review", tmp_path / "y.parquet")


@pytest.mark.local_only(reason="the CLI runs on a local workspace")
def test_the_cli_adds_lists_and_embeds(workspace: Any, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from carnet.cli.main import cli

    path = tmp_path / "reviews.csv"
    reviews().to_csv(path, index=False)
    base = ["--uri", workspace.uri, *(["--artifacts", workspace.artifacts] if workspace.artifacts else [])]
    runner = CliRunner()
    added = runner.invoke(
        cli, [*base, "encoders", "add", "h", "--encoder", "hashing", "--param", "dimension=32"]
    )
    assert added.exit_code == 0 and "registered encoder h/1: hashing, 32-d" in added.output
    listed = json.loads(runner.invoke(cli, [*base, "encoders", "list", "--json"]).output)
    assert [(e["ref"], e["dimension"]) for e in listed] == [("h/1", 32)]
    out = tmp_path / "v.parquet"
    done = runner.invoke(
        cli, [*base, "embed", "h", str(path), "-c", "review", "--keep", "id", "-o", str(out), "--json"]
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["rows"] == 240 and pq.read_table(out).num_rows == 240
    bad = runner.invoke(cli, [*base, "embed", "h", str(path), "-c", "nope", "-o", str(out)])
    assert bad.exit_code == 2 and len([x for x in bad.output.splitlines() if x.strip()]) == 1
