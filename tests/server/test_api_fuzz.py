"""Schemathesis over the OpenAPI document of /api/v1 against a live server (authentication on, a
server admin's token): every operation gets a bounded number of generated requests, and none may
be answered with a server error (5xx)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from api_matrix_helpers import LiveApi, live_api
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from carnet.server.api import create_api_app

#: generated requests per operation (the whole module stays around a minute on two cores)
EXAMPLES = int(os.environ.get("CARNET_FUZZ_EXAMPLES", "20"))

_DOC = create_api_app(None, require_auth=False).openapi()  # type: ignore[arg-type] - the document only
schema = schemathesis.openapi.from_dict(_DOC)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("CARNET_") and key != "CARNET_TEST_POSTGRES_URL":
                mp.delenv(key, raising=False)
        with live_api(tmp_path_factory.mktemp("fuzz"), max_body_bytes=1 << 20) as api:
            yield api


@pytest.fixture
def admin_headers(live: LiveApi) -> dict[str, str]:
    """A fresh server-admin token per operation: a generated request may revoke tokens by id."""
    return {"Authorization": f"Bearer {live.services.auth.create_token('root', 'fuzz')[0]}"}


def test_the_document_describes_the_api() -> None:
    assert len(list(schema.get_all_operations())) >= 30


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_server_error(
    case: schemathesis.Case, live: LiveApi, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(base_url=live.url, headers=admin_headers, checks=[not_a_server_error], timeout=30)


@given(data=st.data())
@settings(
    max_examples=1,
    deadline=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_fuzzer_got_past_authentication(data: st.DataObject, live: LiveApi) -> None:
    """One generated request per operation, on its own (not relying on the test above having run):
    the fuzzer's requests reach the routes (many 2xx), and none is refused as unauthenticated."""
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        case = data.draw(result.ok().as_strategy())
        token = live.services.auth.create_token("root", "fuzz")[0]  # a request may revoke tokens
        response = case.call(base_url=live.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        statuses[response.status_code] += 1
    print(f"fuzz statuses: {dict(sorted(statuses.items()))}")
    assert sum(n for status, n in statuses.items() if 200 <= status < 300) >= 10, statuses
    assert statuses[401] == 0 and not any(status >= 500 for status in statuses), statuses
