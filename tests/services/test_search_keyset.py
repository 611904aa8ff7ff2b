"""Pages of a search in the default order (newest first) are read by key: every run once, ties
of start time included, and a run added meanwhile does not shift the pages after the first."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from carnet.errors import InvalidInput


def _pages(services: Any, size: int) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = services.tracking.search_runs("keys", max_results=size, page_token=token)
        pages.append([r.id for r in page.runs])
        token = page.next_page_token
        if token is None:
            return pages


def test_keyset_pages_cover_every_run_once_and_stay_put(services: Any) -> None:
    now = [0.0]
    services.ctx.clock = lambda: now[0]
    ids = []
    for i in range(25):
        now[0] = 100.0 if i < 5 else 200.0 + i  # the first five runs share one start time
        ids.append(services.tracking.create_run("keys", f"r{i}").id)
    pages = _pages(services, 7)
    seen = [i for p in pages for i in p]
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen)) == 25
    assert seen[:20] == ids[5:][::-1] and seen[20:] == sorted(ids[:5])  # newest first, ties by id
    first = services.tracking.search_runs("keys", max_results=7)
    now[0] = 500.0
    services.tracking.create_run("keys", "newcomer")  # newest of all: lands on page 1, not later
    second = services.tracking.search_runs("keys", max_results=7, page_token=first.next_page_token)
    assert [r.id for r in second.runs] == pages[1]
    token = json.loads(base64.urlsafe_b64decode(first.next_page_token.encode()))
    assert set(token) == {"offset", "after"}


@pytest.mark.parametrize("after", [["x", "y"], [1.0], [1.0, 2], [True, "a"], [1.0, "a" * 65], "z"])
def test_a_forged_position_is_refused(services: Any, after: Any) -> None:
    token = base64.urlsafe_b64encode(json.dumps({"offset": 0, "after": after}).encode()).decode()
    with pytest.raises(InvalidInput, match="page_token"):
        services.tracking.search_runs("keys", page_token=token)
