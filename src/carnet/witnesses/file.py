"""The ``file://`` witness: checkpoints appended as JSON lines to a local file."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["FileWitness"]


def _path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.unquote(parts.path)


class FileWitness:
    """Append each checkpoint as one JSON line to a local file (``file:///path/anchors.jsonl``).

    Each record is one ``write`` on an O_APPEND descriptor followed by ``fsync``, so concurrent
    anchors never interleave and a returned anchor is on disk. Put the file where the people who
    can write to the metadata database cannot (another machine's mount, an append-only
    ``chattr +a`` file, a WORM volume): a witness they can edit proves nothing.
    """

    name = "file"
    description = "append checkpoints as JSON lines to a local file (file:///path/anchors.jsonl)"

    def validate(self, url: str) -> None:
        """``file:///absolute/path`` (no host), not a folder."""
        parts = urllib.parse.urlsplit(url)
        path = _path(url)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise InvalidInput(
                f"{url!r} must be file:///absolute/path/anchors.jsonl (three slashes)", field="witness"
            )
        if parts.query or parts.fragment:
            raise InvalidInput(f"{url!r}: a file witness takes no query or fragment", field="witness")
        if os.path.isdir(path):
            raise InvalidInput(f"{path} is a folder; name a file inside it", field="witness")

    def publish(self, url: str, record: dict[str, Any], options: Mapping[str, Any]) -> str:
        """Append ``record`` and a newline in one write, then fsync; returns the path."""
        path = _path(url)
        line = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags, 0o644)
        try:
            written = os.write(fd, line)
            while written < len(line):  # a short write (disk full, signal): finish the line
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        return path

    def read(self, url: str, options: Mapping[str, Any]) -> Iterator[Any]:
        """Every line, last first: parsed JSON, or the line's text when it is not JSON (none when the
        file does not exist)."""
        path = _path(url)
        try:
            with open(path, "rb") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return
        for raw in reversed(lines):
            if not raw.strip():
                continue
            try:
                yield json.loads(raw)
            except ValueError:
                yield raw.decode("utf-8", "replace")
