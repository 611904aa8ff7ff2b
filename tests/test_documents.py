"""The one document reader: mappings, YAML text and files become data; every failure is one
InvalidInput naming the document."""

from __future__ import annotations

from pathlib import Path

import pytest

from carnet.documents import read_document
from carnet.errors import InvalidInput


def test_mappings_text_and_files_give_the_same_data(tmp_path: Path) -> None:
    text = "name: p\ngates:\n  - {type: signature}\n"
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    want = {"name": "p", "gates": [{"type": "signature"}]}
    assert read_document(text, "policy") == want
    assert read_document(path, "policy") == want
    assert read_document(str(path), "policy") == want
    assert read_document(want, "policy") is want
    assert read_document('{"a": 1}', "spec") == {"a": 1}  # JSON is YAML


def test_a_missing_file_a_wrong_type_and_bad_yaml_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"cannot read spec file .*missing\.yaml") as info:
        read_document(str(tmp_path / "missing.yaml"), "spec")
    assert info.value.field == "spec"
    with pytest.raises(InvalidInput, match="a deployment is YAML text, a file path or a mapping, got int"):
        read_document(3, "deployment")
    with pytest.raises(InvalidInput, match=r"policy is not valid YAML: .* at line 1, column \d+") as bad:
        read_document("name: [unclosed", "policy")
    assert "\n" not in bad.value.message


def test_an_alias_bomb_or_a_recursive_alias_is_refused_and_merge_keys_still_work() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)
    ]  # 9**9 values once expanded
    with pytest.raises(InvalidInput) as info:
        read_document("\n".join(levels), "spec")
    assert info.value.field == "spec" and "aliases" in str(info.value)
    with pytest.raises(InvalidInput):
        read_document("a: &a [*a]\n", "spec")
    merged = read_document("base: &b {x: 1}\nother: {<<: *b, y: 2}\n", "spec")
    assert merged["other"] == {"x": 1, "y": 2}
    assert read_document("a: &a [1, 2]\nb: [*a, *a]\n", "spec")["b"] == [[1, 2], [1, 2]]
