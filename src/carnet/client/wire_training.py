"""Remote training on the wire: the NDJSON event stream of a training route, read back into what the
local client returns (:class:`~carnet.domain.training.TrainOutcome` with its
:class:`~carnet.evaluation.EvaluationResult`, or the dicts of a search, AutoML or reproduction,
with NaN restored where the server sent ``null`` for a metric value)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from carnet.client.wire import decode
from carnet.domain.training import TrainOutcome
from carnet.errors import CarnetError, StorageError

__all__ = ["read_events", "result_from_wire", "spec_seed"]

ProgressFn = Callable[[str, int, int], None]
#: the stage a waiting training reports through ``progress`` (0 of 1 while queued, 1 of 1 once started)
QUEUED_STAGE = "queued"


def spec_seed(spec: Any) -> int | None:
    """The seed of a spec given as a mapping or TrainSpec (None when unknown before parsing), as the
    local client records it in the environment."""
    if isinstance(spec, Mapping):
        seed = spec.get("seed")
        return seed if isinstance(seed, int) else None
    return getattr(spec, "seed", None)


def read_events(lines: Iterable[str], progress: ProgressFn | None = None) -> tuple[str, dict[str, Any]]:
    """Follow a training stream to its end: ``(kind, result)`` of its ``result`` event.

    ``progress`` gets every ``progress`` event as ``(stage, done, total)``, as a local training
    calls it; a training that waits for a slot also reports ``("queued", 0, 1)`` then
    ``("queued", 1, 1)`` when it starts. Heartbeats and unknown events are skipped.

    Raises:
        CarnetError: the ``error`` event's class (``InvalidInput``, ``NotFound`` ...), or
            StorageError when the stream ends without a result.
    """
    from carnet.errors import error_from_problem

    waiting = False
    for line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise CarnetError(
                f"the carnet server sent a stream line that is not JSON: {line[:200]!r}"
            ) from exc
        kind = event.get("event") if isinstance(event, dict) else None
        if kind == "result":
            return str(event.get("kind")), dict(event.get("result") or {})
        if kind == "error":
            problem = event.get("problem")
            raise error_from_problem(problem if isinstance(problem, dict) else {})
        if progress is None:
            continue
        if kind == "queued" and not waiting:
            waiting = True
            progress(QUEUED_STAGE, 0, 1)
        elif kind in ("started", "progress") and waiting:
            waiting = False
            progress(QUEUED_STAGE, 1, 1)
        if kind == "progress":
            progress(str(event.get("stage")), int(event.get("done") or 0), int(event.get("total") or 0))
    raise StorageError(
        "the carnet server ended the training stream without a result; the run may be on record: "
        "see carnet runs list"
    )


def result_from_wire(kind: str, result: dict[str, Any]) -> Any:
    """What the local client returns for a ``result`` event of ``kind``."""
    if kind == "outcome":
        return decode(TrainOutcome, result)
    if kind == "automl":
        return {**result, "test_metrics": decode(dict[str, float], result.get("test_metrics"))}
    if kind == "reproduce":
        return {**result, "metrics": decode(dict[str, list[float]], result.get("metrics"))}
    return result
