"""The one reader of user documents (specs, policies, deployments): YAML text, a file path or a
mapping becomes plain data, at the edge; the loaders that validate it take mappings.

Only :func:`read_document` touches files and YAML: ``carnet.domain`` may do neither (a contract in
``pyproject.toml`` forbids it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["MAX_EXPANDED_NODES", "check_expansion", "read_document"]

#: the most values a document may expand to through YAML aliases (an "alias bomb" is refused)
MAX_EXPANDED_NODES = 1_000_000
#: suffixes that make a one-line text a file name rather than YAML
_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def _is_path(source: str | Path) -> bool:
    """Whether ``source`` names a file: a Path, or one line that looks like a file name or is one."""
    if isinstance(source, Path):
        return True
    if "\n" in source or not source.strip():
        return False
    candidate = Path(source.strip())
    if candidate.suffix.lower() in _FILE_SUFFIXES and ": " not in source:
        return True
    try:
        return candidate.is_file()
    except OSError:  # a one-line YAML text too long for a file name
        return False


def read_document(source: object, what: str) -> Any:
    """The data of a document: a mapping as is, YAML (or JSON) text parsed, a file read and parsed.

    Args:
        source: a mapping, YAML text, or the path of a YAML/JSON file.
        what: the document's name in errors (``spec``, ``policy``, ``deployment``), also their ``field``.

    Raises:
        InvalidInput: ``source`` is none of those, the file cannot be read, or the YAML does not
            parse (the message gives the line and column).
    """
    if isinstance(source, Mapping):
        return source
    if not isinstance(source, str | Path):
        raise InvalidInput(
            f"a {what} is YAML text, a file path or a mapping, got {type(source).__name__}", field=what
        )
    text = str(source)
    if _is_path(source):
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(
                f"cannot read {what} file {str(source)!r}: {exc.strerror or exc}", field=what
            ) from None
    import yaml  # type: ignore[import-untyped, unused-ignore]

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"{what} is not valid YAML: {problem}{where}", field=what) from None
    return check_expansion(data, what)


def check_expansion(data: Any, what: str) -> Any:
    """``data`` as is, unless YAML aliases make it expand past :data:`MAX_EXPANDED_NODES` values.

    Raises:
        InvalidInput: an alias bomb (or a recursive alias), naming ``what``.
    """
    if _expanded_size(data) > MAX_EXPANDED_NODES:
        raise InvalidInput(
            f"{what} expands to more than {MAX_EXPANDED_NODES:,} values through YAML aliases; "
            "write the values out or use fewer aliases",
            field=what,
        )
    return data


def _expanded_size(data: Any) -> int:
    """How many values ``data`` holds once every alias is expanded (shared values counted each time
    they appear), computed once per distinct value, so an alias bomb is measured without expanding it."""
    sizes: dict[int, int] = {}

    def size(value: Any, depth: int = 0) -> int:
        if not isinstance(value, dict | list):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if depth > 200:  # nested deeper than any document carnet reads: count it as too large
            return MAX_EXPANDED_NODES + 1
        sizes[key] = MAX_EXPANDED_NODES + 1  # a cycle (a recursive alias) counts as too large
        items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
        total = 1
        for k, v in items:
            total += size(k, depth + 1) + size(v, depth + 1)
            if total > MAX_EXPANDED_NODES:
                break
        sizes[key] = total
        return total

    return size(data)
