"""Binary tensor data of the Open Inference Protocol: requests with raw tensor bytes after the JSON
header, responses with binary outputs, and every malformed framing named in the error."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest

from carnet.domain.models import ColumnSpec, Signature
from carnet.errors import InvalidInput
from carnet.inference.binary import HEADER_LENGTH, requested_outputs, tensor_bytes
from carnet.inference.codecs import encode_v2_binary_response, encode_v2_response, parse_v2_request

SIG = Signature(
    (
        ColumnSpec("x", "float64"),
        ColumnSpec("n", "int64"),
        ColumnSpec("city", "str"),
        ColumnSpec("flag", "bool"),
    )
)
FLOATS = Signature(tuple(ColumnSpec(f"f{i}", "float64") for i in range(30)))
F8 = np.array([1.5, 2.0], "<f8").tobytes()


def strings(*values: str) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def binary(
    name: str, datatype: str, shape: list[int], data: bytes, **params: Any
) -> tuple[dict[str, Any], bytes]:
    """A binary input: its JSON tensor and its bytes."""
    return {
        "name": name,
        "datatype": datatype,
        "shape": shape,
        "parameters": {"binary_data_size": len(data), **params},
    }, data


def request(
    *inputs: tuple[dict[str, Any], bytes] | dict[str, Any], pad: int | None = None, **extra: Any
) -> tuple[bytes, int]:
    """A body of the JSON header then the inputs' bytes, and the header's length.

    ``pad``: spaces after the JSON so that the binary data starts at a multiple of ``pad``.
    """
    tensors = [i[0] if isinstance(i, tuple) else i for i in inputs]
    header = orjson.dumps({"inputs": tensors, **extra})
    if pad:
        header += b" " * (-len(header) % pad)
    data = b"".join(i[1] for i in inputs if isinstance(i, tuple))
    return header + data, len(header)


def columns_request(**overrides: Any) -> tuple[bytes, int]:
    inputs: dict[str, Any] = {
        "x": binary("x", "FP64", [2], np.array([1.5, 2.0], "<f8").tobytes()),
        "n": binary("n", "INT64", [2], np.array([1, 2], "<i8").tobytes()),
        "city": binary("city", "BYTES", [2], strings("paris", "lyon")),
        "flag": binary("flag", "BOOL", [2], bytes([1, 0])),
    }
    inputs.update(overrides)
    return request(*inputs.values())


EXPECTED = pd.DataFrame(
    {
        "x": np.array([1.5, 2.0]),
        "n": np.array([1, 2], dtype=np.int64),
        "city": pd.array(["paris", "lyon"], dtype="str"),
        "flag": np.array([True, False]),
    }
)


# ----------------------------------------------------------------------------- requests


def test_binary_tensors_per_column_give_the_signature_frame() -> None:
    body, n = columns_request()
    parsed = parse_v2_request(body, SIG, header_length=n)
    pd.testing.assert_frame_equal(parsed.frame, EXPECTED)
    assert parsed.binary is False and parsed.outputs is None


def test_binary_and_json_inputs_mix_and_the_header_length_may_be_text() -> None:
    body, n = columns_request(
        city={"name": "city", "datatype": "BYTES", "shape": [2], "data": ["paris", "lyon"]}
    )
    pd.testing.assert_frame_equal(parse_v2_request(body, SIG, header_length=str(n)).frame, EXPECTED)


def test_a_binary_matrix_is_a_read_only_view_of_the_body_when_aligned() -> None:
    values = np.random.default_rng(0).normal(size=(50, 30))
    body, n = request(binary("input", "FP64", [50, 30], values.astype("<f8").tobytes()), pad=8)
    frame = parse_v2_request(body, FLOATS, header_length=n).frame
    assert list(frame.columns) == [f"f{i}" for i in range(30)]
    np.testing.assert_array_equal(frame.to_numpy(), values)
    assert np.shares_memory(frame.to_numpy(), np.frombuffer(body, np.uint8))
    assert set(frame.dtypes) == {np.dtype(np.float64)}


def test_a_misaligned_binary_matrix_is_copied_aligned() -> None:
    values = np.arange(60, dtype=np.float64).reshape(2, 30)
    body, n = request(binary("input", "FP64", [2, 30], values.tobytes()), pad=8)
    body, n = b" " + body, n + 1  # JSON may start with blanks: the binary data moves by one byte
    frame = parse_v2_request(body, FLOATS, header_length=n).frame
    arr = frame.to_numpy()
    np.testing.assert_array_equal(arr, values)
    assert arr.flags.aligned and not np.shares_memory(arr, np.frombuffer(body, np.uint8))


@pytest.mark.parametrize("datatype", ["FP32", "FP16", "INT32", "UINT8"])
def test_binary_numeric_datatypes_fill_float_columns(datatype: str) -> None:
    sig = Signature((ColumnSpec("a", "float64"), ColumnSpec("b", "float64")))
    dtype = {"FP32": "<f4", "FP16": "<f2", "INT32": "<i4", "UINT8": "u1"}[datatype]
    data = np.array([[1, 2], [3, 4], [5, 6]], dtype=dtype)
    body, n = request(binary("m", datatype, [3, 2], data.tobytes()))
    frame = parse_v2_request(body, sig, header_length=n).frame
    np.testing.assert_array_equal(frame.to_numpy(), data.astype(np.float64))


def test_the_header_without_binary_inputs_is_a_json_request() -> None:
    body = orjson.dumps(
        {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 30], "data": [0.5] * 30}]}
    )
    frame = parse_v2_request(body, FLOATS, header_length=len(body)).frame
    assert frame.shape == (1, 30) and (frame.to_numpy() == 0.5).all()


def test_a_real_triton_request_body_parses() -> None:
    triton = pytest.importorskip("tritonclient.http")
    values = np.random.default_rng(1).normal(size=(4, 30))
    tensor = triton.InferInput("input", [4, 30], "FP64")
    tensor.set_data_from_numpy(values, binary_data=True)
    city = triton.InferInput("city", [2], "BYTES")
    city.set_data_from_numpy(np.array([b"paris", b"lyon"], dtype=object), binary_data=True)
    body, n = triton.InferenceServerClient.generate_request_body([tensor])
    np.testing.assert_array_equal(parse_v2_request(body, FLOATS, header_length=n).frame.to_numpy(), values)
    out = triton.InferRequestedOutput("predict", binary_data=True)
    parts = [
        triton.InferInput("x", [2], "FP64"),
        triton.InferInput("n", [2], "INT64"),
        city,
        triton.InferInput("flag", [2], "BOOL"),
    ]
    parts[0].set_data_from_numpy(np.array([1.5, 2.0]), binary_data=True)
    parts[1].set_data_from_numpy(np.array([1, 2], dtype=np.int64), binary_data=False)
    parts[3].set_data_from_numpy(np.array([True, False]), binary_data=True)
    body, n = triton.InferenceServerClient.generate_request_body(parts, outputs=[out])
    parsed = parse_v2_request(body, SIG, header_length=n)
    pd.testing.assert_frame_equal(parsed.frame, EXPECTED)
    assert parsed.outputs == ["predict"] and parsed.binary == frozenset({"predict"})


@pytest.mark.parametrize(
    ("body", "n", "field", "words"),
    [
        (b'{"inputs": []}', 99, HEADER_LENGTH, ("at most", "14 bytes")),
        (b'{"inputs": []}', "twelve", HEADER_LENGTH, ("'twelve'",)),
        (b'{"inputs": []}', -1, HEADER_LENGTH, ("byte length",)),
    ],
)
def test_a_bad_header_length_is_named(body: bytes, n: Any, field: str, words: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_v2_request(body, SIG, header_length=n)
    assert exc.value.field == field
    assert all(w in exc.value.message for w in words), exc.value.message


def _mistakes() -> list[tuple[tuple[bytes, int], str, tuple[str, ...]]]:
    flag = binary("flag", "BOOL", [2], b"\x01\x00")[0]
    return [
        # the sizes claim more bytes than the body holds, or fewer
        (
            columns_request(flag=({**flag, "parameters": {"binary_data_size": 5}}, b"\x01\x00")),
            "flag",
            ("binary_data_size 5", "only 2 bytes"),
        ),
        (
            columns_request(flag=({**flag, "parameters": {"binary_data_size": 1}}, b"\x01\x00")),
            "flag",
            ("51 bytes", "add up to 50"),
        ),
        # both data and binary_data_size
        (columns_request(x=({**binary("x", "FP64", [2], F8)[0], "data": [1.5, 2.0]}, F8)), "x", ("both",)),
        # the byte count does not match the shape and datatype
        (columns_request(x=binary("x", "FP64", [3], F8 + b"\0\0\0\0")), "x", ("[3]", "24 bytes", "20")),
        (columns_request(x=binary("x", "FP32", [2], F8)), "x", ("8 bytes", "16")),
        (columns_request(x=binary("x", "FP64", [2], F8[:-1])), "x", ("16 bytes", "15")),
        (columns_request(flag=binary("flag", "BOOL", [2], b"\x01\x02")), "flag", ("BOOL", "byte 1", "2")),
        (
            columns_request(city=binary("city", "BYTES", [2], strings("paris"))),
            "city",
            ("ends inside element 1",),
        ),
        (
            columns_request(city=binary("city", "BYTES", [2], strings("paris", "lyon") + b"!")),
            "city",
            ("take 17",),
        ),
        (
            columns_request(city=binary("city", "BYTES", [2], strings("paris") + b"\x02\0\0\0\xff\xfe")),
            "city",
            ("UTF-8",),
        ),
        (columns_request(x=binary("x", "FP64", [2], F8, binary_data_size=-3)), "x", ("byte count",)),
        (columns_request(x=binary("x", "FP64", [2], F8, binary_data_size="16")), "x", ("byte count",)),
        # a binary tensor whose datatype does not fit its column
        (columns_request(city=binary("city", "FP64", [2], F8)), "city", ("is FP64", "BYTES")),
        (columns_request(x=binary("x", "BF16", [2], b"\0" * 4)), "x", ("datatype 'BF16'",)),
    ]


@pytest.mark.parametrize(("framed", "field", "words"), _mistakes())
def test_binary_mistakes_name_the_input(
    framed: tuple[bytes, int], field: str, words: tuple[str, ...]
) -> None:
    body, n = framed
    with pytest.raises(InvalidInput) as exc:
        parse_v2_request(body, SIG, header_length=n)
    assert exc.value.field == field, exc.value.message
    assert all(w in exc.value.message for w in words), exc.value.message


def test_binary_inputs_without_the_header_say_so() -> None:
    body = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP64",
                    "shape": [1, 30],
                    "parameters": {"binary_data_size": 240},
                }
            ]
        }
    )
    with pytest.raises(InvalidInput) as exc:
        parse_v2_request(body, FLOATS)
    assert exc.value.field == "input" and HEADER_LENGTH in exc.value.message


# ----------------------------------------------------------------------------- outputs

OUTPUTS = {
    "predict": np.array([1, 0, 1], dtype=np.int64),
    "predict_proba": np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]),
    "label": np.array(["yes", "no", "yes"], dtype=object),
}


def split_response(body: bytes, n: int) -> dict[str, Any]:
    """Outputs of a binary response, each with its ``data`` decoded from the binary part."""
    doc = orjson.loads(body[:n])
    offset = n
    for out in doc["outputs"]:
        size = out.get("parameters", {}).get("binary_data_size")
        if size is None:
            continue
        raw = body[offset : offset + size]
        offset += size
        if out["datatype"] == "BYTES":
            values, pos = [], 0
            while pos < len(raw):
                (k,) = struct.unpack_from("<I", raw, pos)
                values.append(raw[pos + 4 : pos + 4 + k].decode())
                pos += 4 + k
            out["data"] = values
        else:
            dtype = {"INT64": "<i8", "FP64": "<f8"}[out["datatype"]]
            out["data"] = np.frombuffer(raw, dtype).reshape(out["shape"]).tolist()
    assert offset == len(body)
    return doc


def test_all_outputs_in_binary() -> None:
    body, n = encode_v2_binary_response("m", 3, "r1", OUTPUTS, binary=True)
    assert n is not None and body[n:]
    doc = split_response(body, n)
    assert doc["model_name"] == "m" and doc["model_version"] == "3" and doc["id"] == "r1"
    by_name = {o["name"]: o for o in doc["outputs"]}
    assert by_name["predict"]["data"] == [1, 0, 1]
    assert by_name["predict"]["parameters"] == {"binary_data_size": 24}
    assert by_name["predict_proba"]["data"] == OUTPUTS["predict_proba"].tolist()
    assert by_name["predict_proba"]["shape"] == [3, 2]
    assert by_name["label"]["data"] == ["yes", "no", "yes"] and by_name["label"]["datatype"] == "BYTES"


def test_only_the_binary_outputs_are_binary_in_the_requested_order() -> None:
    body, n = encode_v2_binary_response(
        "m", None, None, OUTPUTS, ["predict_proba", "predict"], frozenset({"predict"})
    )
    assert n is not None
    doc = split_response(body, n)
    assert [o["name"] for o in doc["outputs"]] == ["predict_proba", "predict"]
    assert "parameters" not in doc["outputs"][0] and doc["outputs"][0]["data"] == [
        0.1,
        0.9,
        0.8,
        0.2,
        0.3,
        0.7,
    ]
    assert doc["outputs"][1]["data"] == [1, 0, 1] and len(body) - n == 24


def test_no_binary_output_is_the_json_response() -> None:
    for flag in (False, frozenset()):
        body, n = encode_v2_binary_response("m", 1, "r", OUTPUTS, None, flag)
        assert n is None and body == encode_v2_response("m", 1, "r", OUTPUTS)
    with pytest.raises(InvalidInput) as exc:
        encode_v2_binary_response("m", 1, None, OUTPUTS, ["nope"])
    assert exc.value.field == "outputs"


def test_tensor_bytes_are_little_endian_and_bytes_elements_are_length_prefixed() -> None:
    assert tensor_bytes(np.array([1, 2], dtype=">i4"), "INT32") == b"\x01\0\0\0\x02\0\0\0"
    assert tensor_bytes(np.array([True, False]), "BOOL") == b"\x01\x00"
    assert tensor_bytes(np.array(["é", b"\xff", None], dtype=object), "BYTES") == (
        b"\x02\0\0\0\xc3\xa9" + b"\x01\0\0\0\xff" + b"\0\0\0\0"
    )


def test_a_real_triton_client_reads_the_binary_response() -> None:
    triton = pytest.importorskip("tritonclient.http")
    body, n = encode_v2_binary_response("m", 1, None, OUTPUTS, binary=True)
    result = triton.InferenceServerClient.parse_response_body(body, header_length=n)
    np.testing.assert_array_equal(result.as_numpy("predict"), OUTPUTS["predict"])
    np.testing.assert_array_equal(result.as_numpy("predict_proba"), OUTPUTS["predict_proba"])
    assert result.as_numpy("label").tolist() == [b"yes", b"no", b"yes"]


@pytest.mark.parametrize(
    ("outputs", "parameters", "expected"),
    [
        (None, {}, (None, False)),
        (None, {"binary_data_output": True}, (None, True)),
        (
            [{"name": "a"}, {"name": "b", "parameters": {"binary_data": True}}],
            {},
            (["a", "b"], frozenset("b")),
        ),
        (
            [{"name": "a", "parameters": {"binary_data": False}}, {"name": "b"}],
            {"binary_data_output": True},
            (["a", "b"], frozenset("b")),
        ),
        ([{"name": "a", "parameters": {"binary_data_output": True}}], {}, (["a"], frozenset("a"))),
    ],
)
def test_requested_binary_outputs(outputs: Any, parameters: dict[str, Any], expected: Any) -> None:
    assert requested_outputs(outputs, parameters) == expected


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"parameters": {"binary_data_output": "yes"}}, "parameters"),
        ({"outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]}, "outputs"),
        ({"outputs": [{"name": "predict", "parameters": []}]}, "outputs"),
        ({"outputs": [{"id": "predict"}]}, "outputs"),
    ],
)
def test_bad_binary_output_requests_are_named(extra: dict[str, Any], field: str) -> None:
    body, n = columns_request()
    header = orjson.dumps({**orjson.loads(body[:n]), **extra})
    with pytest.raises(InvalidInput) as exc:
        parse_v2_request(header + body[n:], SIG, header_length=len(header))
    assert exc.value.field == field
