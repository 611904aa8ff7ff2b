"""Inference codecs: v2 and MLflow requests become validated frames; outputs become responses."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from carnet.domain.models import ColumnSpec, Signature
from carnet.errors import InvalidInput
from carnet.inference import (
    encode_error,
    encode_mlflow_response,
    encode_v2_response,
    model_outputs,
    parse_v2_request,
    v2_datatype,
    validate_frame,
)
from carnet.inference.mlflow import parse_mlflow_request

SIG = Signature(
    (
        ColumnSpec("x", "float64"),
        ColumnSpec("n", "int64"),
        ColumnSpec("city", "str"),
        ColumnSpec("flag", "bool"),
    )
)
FLOATS = Signature(tuple(ColumnSpec(f"f{i}", "float64") for i in range(30)))
EXPECTED = pd.DataFrame(
    {
        "x": np.array([1.5, 2.0]),
        "n": np.array([1, 2], dtype=np.int64),
        "city": pd.array(["paris", "lyon"], dtype="str"),
        "flag": np.array([True, False]),
    }
)


def v2(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def tensor(name: str, datatype: str, data: list[Any], shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape or [len(data)], "data": data}


def columns_body(**overrides: dict[str, Any]) -> bytes:
    tensors = {
        "x": tensor("x", "FP64", [1.5, 2]),
        "n": tensor("n", "INT64", [1, 2]),
        "city": tensor("city", "BYTES", ["paris", "lyon"]),
        "flag": tensor("flag", "BOOL", [True, False]),
    }
    tensors.update(overrides)
    return v2(*tensors.values())


def rejects(fn: Any, *args: Any, field: str, words: tuple[str, ...] = (), **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        fn(*args, **kwargs)
    assert info.value.field == field, str(info.value)
    for word in words:
        assert word in str(info.value), str(info.value)
    return info.value


def assert_conforms(frame: pd.DataFrame, signature: Signature) -> None:
    assert list(frame.columns) == signature.input_names()
    assert [str(d) for d in frame.dtypes] == [c.dtype for c in signature.inputs]


# ----------------------------------------------------------------------------- v2 requests


def test_v2_one_tensor_per_column_gives_the_signature_frame() -> None:
    req = parse_v2_request(columns_body(), SIG)
    assert_conforms(req.frame, SIG)
    pd.testing.assert_frame_equal(req.frame, EXPECTED)
    assert req.id is None and req.parameters == {} and req.outputs is None


def test_v2_columns_in_any_order_with_shape_n1_nested_data_and_compatible_datatypes() -> None:
    body = v2(
        tensor("flag", "BOOL", [[True], [False]], [2, 1]),
        tensor("city", "BYTES", ["paris", "lyon"]),
        tensor("n", "INT32", [1.0, 2.0]),  # whole floats fill an int column
        tensor("x", "INT64", [[1], [2]], [2, 1]),  # ints fill a float column
        id="req-7",
        parameters={"trace": True},
        outputs=[{"name": "predict_proba"}],
    )
    req = parse_v2_request(body, SIG)
    assert req.frame["x"].tolist() == [1.0, 2.0] and req.frame["n"].tolist() == [1, 2]
    assert_conforms(req.frame, SIG)
    assert (req.id, req.parameters, req.outputs) == ("req-7", {"trace": True}, ["predict_proba"])


@pytest.mark.parametrize("nested", [False, True])
def test_v2_single_matrix_maps_to_the_signature_columns_in_order(nested: bool) -> None:
    rows = np.arange(60, dtype=np.float64).reshape(2, 30) / 7
    data = rows.tolist() if nested else rows.reshape(-1).tolist()
    req = parse_v2_request(v2(tensor("input-0", "FP64", data, [2, 30])), FLOATS)
    assert_conforms(req.frame, FLOATS)
    np.testing.assert_array_equal(req.frame.to_numpy(), rows)


def test_v2_matrix_of_a_mixed_signature_converts_each_column() -> None:
    sig = Signature((ColumnSpec("a", "float64"), ColumnSpec("b", "int64"), ColumnSpec("c", "float32")))
    req = parse_v2_request(v2(tensor("m", "FP64", [1.5, 2, 0.25, 3.5, 4, 1.0], [2, 3])), sig)
    assert_conforms(req.frame, sig)
    assert req.frame["b"].tolist() == [2, 4]
    rejects(parse_v2_request, v2(tensor("m", "FP64", [1.5, 2.5, 0.25], [1, 3])), sig, field="b")


def test_v2_per_column_numeric_fast_path_equals_the_general_path() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=(3, 30))
    fast = v2(*(tensor(f"f{i}", "FP64", values[:, i].tolist()) for i in range(30)))
    general = v2(*(tensor(f"f{i}", "FP64", [[v] for v in values[:, i].tolist()], [3, 1]) for i in range(30)))
    a, b = parse_v2_request(fast, FLOATS).frame, parse_v2_request(general, FLOATS).frame
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(a.to_numpy(), values)


def test_v2_fp32_values_are_rounded_like_the_declared_tensor() -> None:
    req = parse_v2_request(v2(tensor("x", "FP32", [0.1])), Signature((ColumnSpec("x", "float64"),)))
    assert req.frame["x"].iloc[0] == float(np.float32(0.1))


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b"{not json", "body", ("not valid JSON",)),
        (b"[1, 2]", "body", ("JSON object",)),
        (orjson.dumps({"inputs": []}), "inputs", ("non-empty",)),
        (orjson.dumps({"inputs": [42]}), "inputs", ("inputs[0]",)),
        (columns_body(x=tensor("x", "FP128", [1.0, 2.0])), "x", ("FP128", "FP64")),
        (columns_body(x=tensor("x", "FP64", [1.0, 2.0], [3])), "x", ("holds 3 values", "holds 2")),
        (columns_body(x=tensor("x", "FP64", [1.0, 2.0], [-2])), "x", ("shape",)),
        (columns_body(x=tensor("x", "FP64", [[1.0], [2.0, 3.0]], [2, 1])), "x", ("rectangular",)),
        (columns_body(x=tensor("x", "BYTES", ["a", "b"])), "x", ("BYTES", "float64", "FP64")),
        (columns_body(x=tensor("x", "FP64", ["abc", "d"])), "x", ("'abc'",)),
        (columns_body(n=tensor("n", "INT64", [1.5, 2])), "n", ("1.5",)),
        (columns_body(n=tensor("n", "INT8", [1, 300])), "n", ("range of INT8",)),
        (columns_body(n=tensor("n", "FP64", [1.5, 2])), "n", ("int64", "1.5")),
        (columns_body(city=tensor("city", "BYTES", ["a", 3])), "city", ("3",)),
        (columns_body(flag=tensor("flag", "BOOL", [1, 0])), "flag", ("BOOL",)),
        (columns_body(flag=tensor("flag", "INT64", [1, 0])), "flag", ("BOOL",)),
        (columns_body(n=tensor("n", "INT64", [1])), "n", ("1 rows",)),
        (columns_body(flag=tensor("flag", "BOOL", [True, False], [1, 2])), "flag", ("[rows, 1]",)),
        (columns_body(zz=tensor("zz", "FP64", [1.0, 2.0])), "zz", ("unknown input",)),
        (v2(tensor("x", "FP64", [1.0])), "n", ("missing input", "'n'", "'city'")),
        (v2(tensor("x", "FP64", []), tensor("n", "INT64", [])), "inputs", ("no rows",)),
        (v2(tensor("m", "FP64", [1.0, 2.0], [1, 2])), "m", ("2 columns", "takes 4")),
        (v2(tensor("m", "FP64", [1.0, 2.0, 3.0, 4.0], [1, 4])), "city", ("one tensor per column",)),
        (columns_body().replace(b'"inputs"', b'"id":7,"inputs"'), "id", ()),
        (orjson.dumps({"inputs": [tensor("x", "FP64", [1.0])], "outputs": ["predict"]}), "outputs", ()),
        (orjson.dumps({"inputs": [tensor("x", "FP64", [1.0])], "parameters": [1]}), "parameters", ()),
    ],
)
def test_v2_mistakes_name_the_culprit(body: bytes, field: str, words: tuple[str, ...]) -> None:
    rejects(parse_v2_request, body, SIG, field=field, words=words)


def test_v2_extra_inputs_are_dropped_when_allowed() -> None:
    body = columns_body(zz=tensor("zz", "FP64", [1.0, 2.0]))
    pd.testing.assert_frame_equal(parse_v2_request(body, SIG, allow_extra=True).frame, EXPECTED)


def test_v2_nulls_in_floating_tensors_are_missing_values() -> None:
    req = parse_v2_request(columns_body(x=tensor("x", "FP64", [None, 2.0])), SIG)
    assert np.isnan(req.frame["x"].iloc[0]) and req.frame["x"].iloc[1] == 2.0


# ----------------------------------------------------------------------------- v2 responses


def test_v2_response_has_protocol_tensors_with_datatypes_from_numpy() -> None:
    outputs = {
        "predict": np.array(["churn", "stay"], dtype=object),
        "predict_proba": np.array([[0.25, 0.75], [0.5, 0.5]]),
        "codes": np.array([1, 2], dtype=np.int32),
        "flags": np.array([True, False]),
        "labels": np.array(["a", "b"]),
    }
    doc = orjson.loads(encode_v2_response("churn", 3, "r-1", outputs, None))
    assert doc["model_name"] == "churn" and doc["model_version"] == "3" and doc["id"] == "r-1"
    by_name = {o["name"]: o for o in doc["outputs"]}
    assert list(by_name) == list(outputs)
    assert by_name["predict"] == {
        "name": "predict",
        "shape": [2],
        "datatype": "BYTES",
        "data": ["churn", "stay"],
    }
    assert by_name["predict_proba"] == {
        "name": "predict_proba",
        "shape": [2, 2],
        "datatype": "FP64",
        "data": [0.25, 0.75, 0.5, 0.5],
    }
    assert (by_name["codes"]["datatype"], by_name["codes"]["data"]) == ("INT32", [1, 2])
    assert (by_name["flags"]["datatype"], by_name["flags"]["data"]) == ("BOOL", [True, False])
    assert (by_name["labels"]["datatype"], by_name["labels"]["data"]) == ("BYTES", ["a", "b"])


def test_v2_response_keeps_requested_outputs_in_order_and_rejects_unknown_ones() -> None:
    outputs = {"predict": np.array([1.0]), "predict_proba": np.array([[0.5, 0.5]])}
    doc = orjson.loads(encode_v2_response("m", None, None, outputs, ["predict_proba"]))
    assert [o["name"] for o in doc["outputs"]] == ["predict_proba"]
    assert "id" not in doc and "model_version" not in doc
    rejects(
        encode_v2_response, "m", "1", None, outputs, ["nope"], field="outputs", words=("'nope'", "predict")
    )


@pytest.mark.parametrize(
    ("dtype", "datatype"),
    [
        (np.float32, "FP32"),
        (np.float16, "FP16"),
        (np.uint8, "UINT8"),
        (np.int64, "INT64"),
        (bool, "BOOL"),
        (object, "BYTES"),
        ("datetime64[ns]", "BYTES"),
        (pd.StringDtype(), "BYTES"),
    ],
)
def test_v2_datatypes_of_dtypes(dtype: Any, datatype: str) -> None:
    assert v2_datatype(dtype) == datatype


def test_v2_round_trip_through_encode_and_parse() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(4, 30))
    body = encode_v2_response("m", "1", "x", {"input": values}, None).replace(b'"outputs"', b'"inputs"')
    np.testing.assert_array_equal(parse_v2_request(body, FLOATS).frame.to_numpy(), values)


def test_error_body() -> None:
    assert orjson.loads(encode_error("column 'x' is missing")) == {"error": "column 'x' is missing"}


# ----------------------------------------------------------------------------- MLflow requests


@pytest.mark.parametrize(
    "payload",
    [
        {
            "dataframe_split": {
                "columns": ["x", "n", "city", "flag"],
                "data": [[1.5, 1, "paris", True], [2, 2, "lyon", False]],
            }
        },
        {
            "dataframe_split": {
                "index": [7, 8],
                "columns": ["flag", "city", "n", "x"],
                "data": [[True, "paris", 1, 1.5], [False, "lyon", 2, 2.0]],
            }
        },
        {"dataframe_split": {"data": [[1.5, 1, "paris", True], [2, 2, "lyon", False]]}},
        {
            "dataframe_records": [
                {"x": 1.5, "n": 1, "city": "paris", "flag": True},
                {"flag": False, "city": "lyon", "n": 2, "x": 2},
            ]
        },
        {
            "instances": [
                {"x": 1.5, "n": 1, "city": "paris", "flag": True},
                {"x": 2.0, "n": 2, "city": "lyon", "flag": False},
            ]
        },
        {"instances": [[1.5, 1, "paris", True], [2.0, 2, "lyon", False]]},
        {"inputs": {"x": [1.5, 2.0], "n": [1, 2], "city": ["paris", "lyon"], "flag": [True, False]}},
        {"inputs": [[1.5, 1, "paris", True], [2.0, 2, "lyon", False]], "params": {"threshold": 0.5}},
    ],
)
def test_mlflow_json_forms_give_the_same_frame(payload: dict[str, Any]) -> None:
    frame = parse_mlflow_request(orjson.dumps(payload), "application/json; charset=utf-8", SIG)
    pd.testing.assert_frame_equal(frame, EXPECTED)


def test_mlflow_one_record_and_scalars_of_a_one_column_model() -> None:
    one = parse_mlflow_request(
        orjson.dumps({"inputs": {"x": 1.5, "n": 1, "city": "paris", "flag": True}}), None, SIG
    )
    pd.testing.assert_frame_equal(one, EXPECTED.iloc[:1])
    sig = Signature((ColumnSpec("x", "float64"),))
    frame = parse_mlflow_request(orjson.dumps({"instances": [1, 2.5, None]}), "application/json", sig)
    assert frame["x"].tolist()[:2] == [1.0, 2.5] and np.isnan(frame["x"].iloc[2])


def test_mlflow_csv_with_a_header_row() -> None:
    body = b"flag,city,n,x\nTrue,paris,1,1.5\nFalse,lyon,2,2\n"
    pd.testing.assert_frame_equal(parse_mlflow_request(body, "text/csv", SIG), EXPECTED)
    # text columns are read as text: leading zeros survive
    frame = parse_mlflow_request(b"x,n,city,flag\n1,2,007,true\n", "text/csv", SIG)
    assert frame["city"].iloc[0] == "007"


def test_mlflow_all_float_split_takes_the_block_path_and_keeps_values() -> None:
    rng = np.random.default_rng(2)
    rows = rng.normal(size=(3, 30))
    names = [f"f{i}" for i in range(30)]
    body = orjson.dumps({"dataframe_split": {"columns": names[::-1], "data": rows[:, ::-1].tolist()}})
    frame = parse_mlflow_request(body, "application/json", FLOATS)
    assert_conforms(frame, FLOATS)
    np.testing.assert_array_equal(frame.to_numpy(), rows)


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"columns": ["x"], "data": [[1]]}, "body", ("exactly one of", "dataframe_split", "text/csv")),
        ({"dataframe_records": [], "instances": []}, "body", ("exactly one of",)),
        ({"dataframe_split": [[1]]}, "dataframe_split", ("columns",)),
        ({"dataframe_records": {"x": 1}}, "dataframe_records", ()),
        ({"dataframe_records": [[1.5, 1, "a", True]]}, "dataframe_records", ("object",)),
        ({"dataframe_records": [{"x": "abc", "n": 1, "city": "a", "flag": True}]}, "x", ("float64", "'abc'")),
        ({"dataframe_records": [{"x": 1.0, "n": 1.5, "city": "a", "flag": True}]}, "n", ("int64", "1.5")),
        ({"dataframe_records": [{"x": 1.0, "n": None, "city": "a", "flag": True}]}, "n", ("missing",)),
        (
            {"dataframe_records": [{"x": 1.0, "n": 1, "city": 75001, "flag": True}]},
            "city",
            ("75001", "string"),
        ),
        ({"dataframe_records": [{"x": 1.0, "n": 1, "city": "a", "flag": "yes"}]}, "flag", ("'yes'",)),
        ({"dataframe_records": [{"x": 1.0, "n": 1, "city": "a"}]}, "flag", ("missing column", "'flag'")),
        ({"dataframe_records": [{"x": 1.0, "n": 1, "city": "a", "flag": True, "zz": 0}]}, "zz", ("unknown",)),
        (
            {"dataframe_records": [{"x": [1.0], "n": 1, "city": "a", "flag": True}]},
            "x",
            ("one scalar per row",),
        ),
        (
            {"dataframe_split": {"columns": ["x", "n", "city", "flag"], "data": [[1.0, 1, "a"]]}},
            "dataframe_split",
            ("4 values",),
        ),
        (
            {"dataframe_split": {"columns": ["x", "x", "city", "flag"], "data": [[1, 1, "a", True]]}},
            "x",
            ("twice",),
        ),
        ({"instances": [1.0, 2.0]}, "instances", ("one-column",)),
        ({"instances": []}, "instances", ("no rows",)),
        ({"inputs": {"x": [1.0], "n": 1}}, "inputs", ()),
        ({"inputs": {"x": [1.0], "n": [1, 2], "city": ["a"], "flag": [True]}}, "inputs", ("same number",)),
        ({"inputs": "x"}, "inputs", ()),
    ],
)
def test_mlflow_mistakes_name_the_culprit(payload: Any, field: str, words: tuple[str, ...]) -> None:
    rejects(parse_mlflow_request, orjson.dumps(payload), "application/json", SIG, field=field, words=words)


def test_mlflow_bad_bodies_and_content_types() -> None:
    rejects(parse_mlflow_request, b"{", "application/json", SIG, field="body", words=("JSON",))
    rejects(parse_mlflow_request, b"[]", "application/json", SIG, field="body", words=("exactly one of",))
    rejects(parse_mlflow_request, b"x=1", "application/x-www-form-urlencoded", SIG, field="content_type")
    rejects(parse_mlflow_request, b"x,n,city,flag\n", "text/csv", SIG, field="body", words=("no rows",))
    rejects(
        parse_mlflow_request, b"x,n,city,flag\nabc,1,a,True\n", "text/csv", SIG, field="x", words=("'abc'",)
    )


def test_mlflow_extra_columns_are_dropped_when_allowed() -> None:
    payload = {"dataframe_records": [{"x": 1.5, "n": 1, "city": "paris", "flag": True, "zz": 0}]}
    frame = parse_mlflow_request(orjson.dumps(payload), None, SIG, allow_extra=True)
    pd.testing.assert_frame_equal(frame, EXPECTED.iloc[:1])


# ----------------------------------------------------------------------------- validate_frame


def test_validate_frame_returns_a_conforming_frame_as_is() -> None:
    assert validate_frame(EXPECTED, SIG) is EXPECTED


def test_validate_frame_reorders_and_converts() -> None:
    frame = pd.DataFrame(
        {"flag": [1, 0], "city": np.array(["paris", "lyon"], dtype=object), "x": [1.5, 2], "n": [1.0, 2.0]},
        index=[10, 11],
    )
    pd.testing.assert_frame_equal(validate_frame(frame, SIG), EXPECTED)


def test_validate_frame_accepts_nulls_in_float_and_text_columns() -> None:
    frame = pd.DataFrame({"x": [None, 1.0], "n": [1, 2], "city": [None, "a"], "flag": [True, False]})
    out = validate_frame(frame, SIG)
    assert np.isnan(out["x"].iloc[0]) and out["city"].isna().tolist() == [True, False]
    assert_conforms(out, SIG)


@pytest.mark.parametrize(
    ("column", "values", "words"),
    [
        ("x", ["abc", "1.0"], ("float64", "'abc'", "row 0")),
        ("n", [1.0, 2.5], ("int64", "2.5", "row 1")),
        ("n", [1.0, np.nan], ("missing",)),
        ("flag", [1, 2], ("bool", "2")),
        ("city", [1, 2], ("str", "1")),
    ],
)
def test_validate_frame_names_the_column_the_dtype_and_the_value(
    column: str, values: list[Any], words: tuple[str, ...]
) -> None:
    frame = EXPECTED.astype(object).assign(**{column: values})
    rejects(validate_frame, frame, SIG, field=column, words=words)


def test_validate_frame_missing_and_extra_columns() -> None:
    rejects(validate_frame, EXPECTED.drop(columns="n"), SIG, field="n", words=("missing",))
    rejects(validate_frame, EXPECTED.assign(zz=1), SIG, field="zz", words=("unknown",))
    pd.testing.assert_frame_equal(validate_frame(EXPECTED.assign(zz=1), SIG, allow_extra=True), EXPECTED)


def test_validate_frame_supports_the_dtypes_training_records() -> None:
    sig = Signature(
        (
            ColumnSpec("f32", "float32"),
            ColumnSpec("i32", "int32"),
            ColumnSpec("u8", "uint8"),
            ColumnSpec("obj", "object"),
            ColumnSpec("cat", "category"),
            ColumnSpec("when", "datetime64[ns]"),
            ColumnSpec("maybe", "Int64"),
        )
    )
    payload = {
        "dataframe_records": [
            {"f32": 0.5, "i32": 3, "u8": 255, "obj": "a", "cat": "red", "when": "2024-05-01", "maybe": None},
            {
                "f32": 1,
                "i32": -3,
                "u8": 0,
                "obj": "b",
                "cat": "blue",
                "when": "2024-05-02T10:00:00",
                "maybe": 4,
            },
        ]
    }
    frame = parse_mlflow_request(orjson.dumps(payload), "application/json", sig)
    assert_conforms(frame, sig)
    assert frame["when"].iloc[1] == pd.Timestamp("2024-05-02T10:00:00")
    assert frame["maybe"].isna().tolist() == [True, False]
    assert validate_frame(frame, sig) is frame
    bad = {"dataframe_records": [dict(payload["dataframe_records"][0], u8=256)]}
    rejects(parse_mlflow_request, orjson.dumps(bad), "application/json", sig, field="u8", words=("range",))
    bad = {"dataframe_records": [dict(payload["dataframe_records"][0], when="not a date")]}
    rejects(parse_mlflow_request, orjson.dumps(bad), "application/json", sig, field="when")


def test_a_signature_without_inputs_takes_columns_as_given() -> None:
    empty = Signature(())
    frame = parse_mlflow_request(orjson.dumps({"dataframe_records": [{"a": 1.5, "b": "x"}]}), None, empty)
    assert list(frame.columns) == ["a", "b"] and frame["a"].iloc[0] == 1.5
    req = parse_v2_request(v2(tensor("m", "FP64", [1.0, 2.0, 3.0, 4.0], [2, 2])), empty)
    assert req.frame.shape == (2, 2) and list(req.frame.columns) == [0, 1]
    assert validate_frame(frame, empty) is frame


# ----------------------------------------------------------------------------- outputs and MLflow responses


@pytest.fixture(scope="module")
def churn() -> tuple[Pipeline, pd.DataFrame]:
    rng = np.random.default_rng(3)
    n = 200
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "n": rng.integers(0, 5, n),
            "city": pd.array(rng.choice(["paris", "lyon", "nantes"], n), dtype="str"),
            "flag": rng.random(n) > 0.5,
        }
    )
    y = np.where(frame["x"] + (frame["city"] == "paris") > 0.5, "churn", "stay")
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["x", "n"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])]
    )
    model = Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame, y)
    return model, frame


def test_model_outputs_of_a_classifier_and_the_mlflow_response(churn: tuple[Pipeline, pd.DataFrame]) -> None:
    model, frame = churn
    body = orjson.dumps(
        {
            "dataframe_split": {
                "columns": list(frame.columns),
                "data": frame.head(5).astype(object).values.tolist(),
            }
        }
    )
    request = parse_mlflow_request(body, "application/json", SIG)
    outputs = model_outputs(model, request, "classification", ["churn", "stay"])
    assert list(outputs) == ["predict", "predict_proba"]
    np.testing.assert_array_equal(outputs["predict"], model.predict(frame.head(5)))
    assert outputs["predict_proba"].dtype == np.float64 and outputs["predict_proba"].shape == (5, 2)
    np.testing.assert_array_equal(outputs["predict_proba"], model.predict_proba(frame.head(5)))
    assert orjson.loads(encode_mlflow_response(outputs)) == {
        "predictions": model.predict(frame.head(5)).tolist()
    }


def test_model_outputs_of_a_regressor_have_no_probabilities() -> None:
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    model = LinearRegression().fit(X, 2 * X["a"] - X["b"])
    outputs = model_outputs(model, X.head(3), "regression", None)
    assert list(outputs) == ["predict"]
    assert orjson.loads(encode_mlflow_response(outputs)) == {"predictions": model.predict(X.head(3)).tolist()}
    assert list(model_outputs(model, X.head(3), None, None)) == ["predict"]


def test_model_outputs_check_the_class_count(churn: tuple[Pipeline, pd.DataFrame]) -> None:
    model, frame = churn
    with pytest.raises(ValueError, match="predict_proba"):
        model_outputs(model, frame.head(2), "classification", ["a", "b", "c"])
