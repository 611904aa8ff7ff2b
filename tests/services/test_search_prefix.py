"""Run id prefixes in search filters, and ``RunPage`` as a sequence: in process and through a server."""

from __future__ import annotations

from typing import Any

import pytest

from carnet import Client
from carnet.errors import InvalidInput, NotFound

pytestmark = pytest.mark.served  # also through a live carnet server (remote-* workspaces)


def _ids(page: Any) -> list[str]:
    return [run.id for run in page]


def test_id_prefixes_resolve_to_the_run_they_name(client: Client, services: Any) -> None:
    parent = services.tracking.create_run("p", "parent", run_id="abcd" + "0" * 28).id
    other = services.tracking.create_run("p", "other", run_id="abce" + "0" * 28).id
    kids = [client.create_run("p", f"kid-{i}", parent_id=parent).id for i in range(3)]
    by_name = ["name asc"]

    assert _ids(client.search_runs("p", f"parent_id = '{parent[:6]}'", by_name)) == kids
    assert _ids(client.search_runs("p", "parent_id = 'ABCD00'", by_name)) == kids  # any case, like runs show
    assert _ids(client.search_runs("p", f"id = '{other[:5]}'")) == [other]
    assert _ids(client.search_runs("p", f"run_id in ('{kids[0][:8]}', '{kids[2][:8]}')", by_name)) == [
        kids[0],
        kids[2],
    ]
    both = client.search_runs("p", f"parent_id = '{parent[:6]}' and name != 'kid-1'", by_name)
    assert _ids(both) == [kids[0], kids[2]]
    assert not set(kids) & set(_ids(client.search_runs("p", f"parent_id != '{parent[:4]}'")))
    assert _ids(client.search_runs("p", f"run_id not in ('{parent[:4]}', '{other[:4]}')", by_name)) == kids
    # a full id that no run has is an ordinary value: it matches nothing
    assert _ids(client.search_runs("p", f"parent_id = '{'f' * 32}'")) == []
    # values of other fields are never taken for run ids
    assert _ids(client.search_runs("p", "name = 'abcd'")) == []


def test_a_prefix_naming_no_run_or_several_is_refused(client: Client, services: Any) -> None:
    for i in range(3):
        services.tracking.create_run("p", f"twin-{i}", run_id=f"beef{i}" + "0" * 27)

    with pytest.raises(InvalidInput, match=r"run id prefix 'beef' in the filter matches 3 runs"):
        client.search_runs("p", "run_id = 'beef'")
    with pytest.raises(InvalidInput, match="matches 3 runs"):
        client.search_runs("p", "name = 'x' or parent_id in ('beef', 'beef0')")
    with pytest.raises(NotFound, match="no run id starts with 'feed'"):
        client.search_runs("p", "parent_id = 'feed'")
    assert _ids(client.search_runs("p", "run_id = 'beef1'")) == ["beef1" + "0" * 27]


def test_a_run_page_is_a_sequence(client: Client) -> None:
    made = [client.create_run("seq", f"r{i}").id for i in range(5)]
    first = client.search_runs("seq", order_by=["name asc"], max_results=3)
    assert len(first) == 3 and bool(first) and first.next_page_token
    assert [run.id for run in first] == made[:3] == [r.id for r in first.runs]
    assert first[0].id == made[0] and first[-1].id == made[2] and [r.id for r in first[1:]] == made[1:3]
    rest = client.search_runs("seq", order_by=["name asc"], max_results=3, page_token=first.next_page_token)
    assert _ids(rest) == made[3:] and rest.next_page_token is None
    empty = client.search_runs("seq", "name = 'none'")
    assert len(empty) == 0 and not empty and list(empty) == [] and empty.next_page_token is None
    with pytest.raises(IndexError):
        empty[0]
