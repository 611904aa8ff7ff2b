"""The ledger filtered by actor and by time, in the store's query (what the web UI's audit page
and the REST route ask for)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from carnet.errors import InvalidInput


def test_events_by_actor_and_time(services: Any) -> None:
    now = [1000.0]
    services.ctx.clock = lambda: now[0]
    services.tracking.create_project("early")
    now[0] = 2000.0
    services.tracking.create_project("late")
    actor = services.ctx.actor
    late = services.audit.log(since=1500.0, actor=actor)
    assert [e.subject_id for e in late if e.action == "project.create"] == ["late"]
    early = services.audit.log(until=1500.0)
    assert [e.subject_id for e in early if e.action == "project.create"] == ["early"]
    assert services.audit.log(actor="nobody-at-all") == []
    both = services.audit.log(since=1000.0, until=2000.0, action="project.create")
    assert [e.subject_id for e in both] == ["late", "early"]  # newest first


@pytest.mark.parametrize("bound", [math.nan, math.inf])
def test_a_time_that_is_not_finite_is_refused(services: Any, bound: float) -> None:
    with pytest.raises(InvalidInput, match="since"):
        services.audit.log(since=bound)
