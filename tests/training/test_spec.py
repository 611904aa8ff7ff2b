"""Training specs: strict parsing, dotted-path errors, round trips, and checks against data."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import carnet.training.spec as spec_module
from carnet.domain.training import FeatureSpec, ModelSpec, SplitSpec, TrainSpec
from carnet.errors import InvalidInput
from carnet.training import load_spec, parse_space, spec_to_dict, validate_against_data


def documented_example() -> str:
    """The YAML example of the spec module's docstring (it must stay valid)."""
    doc = spec_module.__doc__ or ""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    return textwrap.dedent(block)


BASE: dict[str, Any] = {"dataset": "churn", "task": "binary", "target": "churned"}


def with_(path: str, value: Any) -> dict[str, Any]:
    """BASE with ``value`` set at dotted ``path``."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return data


# --------------------------------------------------------------------------- valid specs


def test_documented_full_example_parses() -> None:
    spec = load_spec(documented_example())
    assert spec.dataset == "churn" and spec.task == "binary" and spec.target == "churned"
    assert spec.features == FeatureSpec(include=None, exclude=("customer_id",))
    assert spec.split == SplitSpec("stratified_kfold", 0.2, 5, None, None, True)
    assert spec.preprocess.encode == "onehot" and spec.preprocess.max_categories == 50
    assert spec.model == ModelSpec("random_forest", {"n_estimators": 300, "max_depth": 8})
    assert spec.search is not None
    assert spec.search.space["max_features"] == {"type": "categorical", "choices": ["sqrt", "log2", 1.0]}
    assert spec.search.space["min_impurity_decrease"] == {
        "type": "float",
        "low": 1e-6,
        "high": 1e-2,
        "log": True,
        "step": None,
    }
    assert spec.search.space["n_estimators"]["step"] == 100
    assert (spec.search.sampler, spec.search.pruner, spec.search.n_trials) == ("tpe", "median", 20)
    assert spec.metrics == ("roc_auc", "f1")
    assert (spec.seed, spec.project, spec.name, spec.task_options) == (0, "default", None, {})


def test_minimal_spec_gets_defaults() -> None:
    spec = load_spec("dataset: iris\ntask: multiclass\n")
    assert spec == TrainSpec(dataset="iris", task="multiclass")


def test_round_trip_through_yaml_and_json() -> None:
    spec = load_spec(documented_example())
    data = spec_to_dict(spec)
    assert list(data) == [
        "dataset", "task", "target", "features", "split", "preprocess", "model", "search",
        "metrics", "seed", "project", "name", "task_options",
    ]  # fmt: skip
    assert load_spec(yaml.safe_dump(data)) == spec
    assert load_spec(json.loads(json.dumps(data))) == spec
    assert load_spec(spec) == spec


def test_shorthands() -> None:
    spec = load_spec(
        {
            **BASE,
            "features": ["a", "b", "a"],
            "split": "kfold",
            "model": "ridge",
            "metrics": "rmse",
            "search": {"space": {"alpha": [0.1, 1.0]}},
        }
    )
    assert spec.features.include == ("a", "b")
    assert spec.split.kind == "kfold"
    assert spec.model == ModelSpec("ridge", {})
    assert spec.metrics == ("rmse",)
    assert spec.search is not None and spec.search.space["alpha"]["type"] == "categorical"


def test_python_values_are_normalised() -> None:
    spec = load_spec(
        {
            **BASE,
            "seed": np.int64(7),
            "model": {"name": "mlp", "params": {"hidden": (8, 4), "lr": np.float32(0.5)}},
        }
    )
    assert spec.seed == 7
    assert spec.model is not None and spec.model.params == {"hidden": [8, 4], "lr": 0.5}
    assert type(spec.model.params["lr"]) is float


def test_parse_space_is_public() -> None:
    assert parse_space({"k": [1, 2], "lr": {"type": "float", "low": 0.01, "high": 1, "log": True}}) == {
        "k": {"type": "categorical", "choices": [1, 2]},
        "lr": {"type": "float", "low": 0.01, "high": 1.0, "log": True, "step": None},
    }
    with pytest.raises(InvalidInput) as err:
        parse_space({"k": {"type": "int", "low": 3}}, path="automl.space")
    assert err.value.field == "automl.space.k.high"


def test_yaml_scientific_notation_strings_are_numbers() -> None:
    spec = load_spec({**BASE, "search": {"space": {"a": {"type": "float", "low": "1e-4", "high": 1}}}})
    assert spec.search is not None and spec.search.space["a"]["low"] == 1e-4


def test_long_one_line_yaml_is_text() -> None:
    tags = ", ".join(f"k{i}: {i}" for i in range(600))
    assert load_spec(f"{{dataset: d, task: t, task_options: {{{tags}}}}}").task_options["k599"] == 599


def test_reads_files(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(documented_example())
    assert load_spec(path) == load_spec(str(path)) == load_spec(documented_example())


# --------------------------------------------------------------------------- errors name the field

ERRORS = [
    (with_("split.folds", 1), "split.folds", "split.folds must be an integer >= 2, got 1"),
    (with_("split.folds", 2.5), "split.folds", "must be an integer"),
    (with_("split.test_size", -0.2), "split.test_size", "between 0 and 1"),
    (with_("split.test_size", 1.5), "split.test_size", "between 0 and 1"),
    (with_("split.kind", "kfolds"), "split.kind", "did you mean 'kfold'?"),
    (with_("split.kind", "bootstrap"), "split.kind", "must be one of holdout, kfold"),
    (with_("split.fold", 3), "split.fold", "unknown key 'fold' in split; did you mean 'folds'?"),
    (with_("split.kind", "group_kfold"), "split.group_column", "needs split.group_column"),
    (with_("split.shuffle", "yes"), "split.shuffle", "true or false"),
    (with_("model.parmas", {}), "model.parmas", "unknown key 'parmas' in model; did you mean 'params'?"),
    (with_("model.params", {"max_depth": 3}), "model.name", "model.name is required"),
    (with_("preprocess.scale", "zscore"), "preprocess.scale", "standard, minmax, robust, none"),
    (with_("preprocess.encode", "one_hot"), "preprocess.encode", "did you mean 'onehot'?"),
    (with_("preprocess.impute_numeric", "mode"), "preprocess.impute_numeric", "median, mean"),
    (with_("preprocess.max_categories", 1), "preprocess.max_categories", ">= 2"),
    (with_("preprocess.date_part", True), "preprocess.date_part", "did you mean 'date_parts'?"),
    (with_("targt", "y"), "targt", "unknown key 'targt' in spec; did you mean 'target'?"),
    (with_("colour", "y"), "colour", "expected one of: dataset, task"),
    (with_("target", 3), "target", "target must be a non-empty string"),
    (with_("seed", -1), "seed", "in [0, 4294967296)"),
    (with_("seed", True), "seed", "must be an integer"),
    (with_("metrics", []), "metrics", "non-empty list"),
    (with_("metrics", ["f1", 2]), "metrics[1]", "non-empty string"),
    (with_("features.include", []), "features.include", "at least one column"),
    (with_("features.exclude", [1]), "features.exclude[0]", "non-empty string"),
    (with_("features.inclde", ["a"]), "features.inclde", "did you mean 'include'?"),
    (with_("task_options", 5), "task_options", "must be a mapping"),
    (with_("model", {"name": "x", "params": {"cb": object()}}), "model.params.cb", "plain data"),
    (with_("search.space", {}), "search.space", "search.space must map"),
    (with_("search.space", {"lr": {"type": "double"}}), "search.space.lr.type", "int, float, categorical"),
    (with_("search.space", {"lr": {"type": "float", "low": 1}}), "search.space.lr.high", "required"),
    (with_("search.space", {"n": {"type": "int", "low": 5, "high": 1}}), "search.space.n.high", "greater"),
    (with_("search.space", {"n": {"type": "int", "low": 1.5, "high": 3}}), "search.space.n.low", "integer"),
    (
        with_("search.space", {"lr": {"type": "float", "low": 0, "high": 1, "log": True}}),
        "search.space.lr.low",
        "> 0",
    ),
    (
        with_("search.space", {"c": {"type": "categorical", "choices": []}}),
        "search.space.c.choices",
        "non-empty",
    ),
    (
        with_("search.space", {"c": {"type": "categorical", "choices": [1], "low": 0}}),
        "search.space.c.low",
        "categ",
    ),
    (with_("search.space", {"c": {"typ": "int"}}), "search.space.c.typ", "did you mean 'type'?"),
    (with_("search", {"space": {"a": [1]}, "n_trials": 0}), "search.n_trials", ">= 1"),
    (with_("search", {"space": {"a": [1]}, "timeout": -5}), "search.timeout", "> 0"),
    (with_("search", {"space": {"a": [1]}, "sampler": "tpee"}), "search.sampler", "did you mean 'tpe'?"),
    (with_("search", {"space": {"a": [1]}, "pruner": "asha"}), "search.pruner", "hyperband"),
    (with_("search", {"space": {"a": [1]}, "direction": "max"}), "search.direction", "maximize, minimize"),
    (
        with_("search", {"space": {"lr": {"type": "float", "low": 0.1, "high": 1}}, "sampler": "grid"}),
        "search.space.lr",
        "grid sampler",
    ),
    ({"task": "binary"}, "dataset", "dataset is required"),
    ({"dataset": "d"}, "task", "task is required"),
]


@pytest.mark.parametrize(("data", "field", "fragment"), ERRORS, ids=[e[1] + ":" + e[2][:20] for e in ERRORS])
def test_errors_name_the_dotted_field(data: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as err:
        load_spec(data)
    assert err.value.field == field
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_did_you_mean_message_is_exact() -> None:
    with pytest.raises(InvalidInput) as err:
        load_spec("dataset: d\ntask: binary\nmodel:\n  name: ridge\n  parmas: {alpha: 1}\n")
    assert str(err.value) == "unknown key 'parmas' in model; did you mean 'params'?"
    assert err.value.field == "model.parmas"


def test_bad_yaml_and_bad_top_level() -> None:
    with pytest.raises(InvalidInput) as err:
        load_spec("dataset: d\ntask: [binary\n")
    assert err.value.field == "spec" and "line" in str(err.value)
    with pytest.raises(InvalidInput) as err:
        load_spec("- just\n- a list\n")
    assert err.value.field == "spec"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        load_spec(tmp_path / "nope.yaml")
    assert err.value.field == "spec" and "cannot read" in str(err.value)
    with pytest.raises(InvalidInput):
        load_spec(str(tmp_path / "nope.yml"))


# --------------------------------------------------------------------------- spec x data


class FakeTask:
    """Just enough of a Task for validate_against_data."""

    name = "fake"
    description = "fake"
    tabular = True
    family = "classification"

    def __init__(self, supervised: bool = True, required: list[str] | None = None) -> None:
        self.supervised = supervised
        self.required = required
        self.checked: list[str | None] = []

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        self.checked.append(target)
        if target is not None and frame[target].nunique() < 2:
            raise InvalidInput("target needs two classes", field="target")

    def __getattr__(self, name: str) -> Any:
        if name == "required_columns" and self.required is not None:
            return lambda options: list(self.required or [])
        raise AttributeError(name)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": [0, 1, 0, 1],
            "age": [1.0, 2.0, 3.0, 4.0],
            "city": ["a", "b", "a", "c"],
            "store": [1, 1, 2, 2],
            "when": pd.date_range("2024-01-01", periods=4),
            "customer_id": [10, 11, 12, 13],
        }
    )


def spec_of(**kwargs: Any) -> TrainSpec:
    return load_spec({"dataset": "d", "task": "fake", **kwargs})


def test_default_features_leave_out_target_group_and_time(frame: pd.DataFrame) -> None:
    task = FakeTask()
    spec = spec_of(
        target="label", split={"kind": "group_kfold", "group_column": "store", "time_column": "when"}
    )
    assert validate_against_data(spec, task, frame) == ["age", "city", "customer_id"]
    assert task.checked == ["label"]


def test_include_and_exclude(frame: pd.DataFrame) -> None:
    spec = spec_of(target="label", features={"include": ["city", "age", "store"], "exclude": ["store"]})
    assert validate_against_data(spec, FakeTask(), frame) == ["city", "age"]
    spec = spec_of(target="label", features={"exclude": ["customer_id", "when"]})
    assert validate_against_data(spec, FakeTask(), frame) == ["age", "city", "store"]


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"target": "lable"}, "target", "did you mean 'label'?"),
        ({}, "target", "supervised"),
        ({"target": "label", "features": ["age", "cty"]}, "features.include", "did you mean 'city'?"),
        ({"target": "label", "features": {"exclude": ["customer"]}}, "features.exclude", "'customer_id'"),
        ({"target": "label", "features": ["age", "label"]}, "features.include", "cannot also be a feature"),
        (
            {"target": "label", "split": {"kind": "group_kfold", "group_column": "stor"}},
            "split.group_column",
            "store",
        ),
        ({"target": "label", "split": {"kind": "time", "time_column": "wen"}}, "split.time_column", "'when'"),
        (
            {"target": "label", "features": ["age"], "task_options": {"date_columns": ["day"]}},
            "task_options.date_columns",
            "date",
        ),
        (
            {"target": "label", "features": {"exclude": ["age", "city", "store", "when", "customer_id"]}},
            "features",
            "no feature",
        ),
    ],
)
def test_data_errors_name_the_field(
    frame: pd.DataFrame, kwargs: dict[str, Any], field: str, fragment: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        validate_against_data(spec_of(**kwargs), FakeTask(), frame)
    assert err.value.field == field
    assert fragment in str(err.value)


def test_task_check_target_is_called(frame: pd.DataFrame) -> None:
    frame = frame.assign(label=1)
    with pytest.raises(InvalidInput, match="two classes"):
        validate_against_data(spec_of(target="label"), FakeTask(), frame)


def test_unsupervised_target_is_kept_out_of_features(frame: pd.DataFrame) -> None:
    task = FakeTask(supervised=False)
    assert "label" not in validate_against_data(spec_of(target="label"), task, frame)
    assert "label" not in validate_against_data(
        spec_of(target="label", features=["age", "label"]), task, frame
    )
    assert "label" in validate_against_data(spec_of(), task, frame)  # no target: just a column


def test_required_columns_stay_features(frame: pd.DataFrame) -> None:
    task = FakeTask(required=["when", "store"])
    spec = spec_of(
        target="label", features={"exclude": ["store"]}, split={"kind": "time", "time_column": "when"}
    )
    assert validate_against_data(spec, task, frame) == ["age", "city", "customer_id", "when", "store"]
    with pytest.raises(InvalidInput) as err:
        validate_against_data(spec_of(target="label"), FakeTask(required=["ts"]), frame)
    assert err.value.field == "task_options"


def test_empty_frame_and_odd_column_names(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="no rows"):
        validate_against_data(spec_of(target="label"), FakeTask(), frame.iloc[:0])
    with pytest.raises(InvalidInput, match="column names must be strings"):
        validate_against_data(spec_of(target="label"), FakeTask(), frame.rename(columns={"age": 5}))


def test_importing_the_engine_loads_nothing_heavy() -> None:
    heavy = ["sklearn", "pandas", "numpy", "yaml", "lightgbm", "xgboost", "optuna", "scipy"]
    code = f"import sys, json, carnet.training; print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
