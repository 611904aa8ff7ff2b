"""Traffic routing: weighted shares, sticky keys, zero weights, shadows and validation."""

from __future__ import annotations

from collections import Counter

import pytest

from carnet.errors import InvalidInput
from carnet.inference import Route, Router


def shares(router: Router, draws: int = 20_000) -> dict[str, float]:
    counts = Counter(router.choose(None) for _ in range(draws))
    return {key: count / draws for key, count in counts.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_95_5_canary_gets_5_percent(seed: int) -> None:
    router = Router([Route("churn/1", 95), Route("churn/2", 5)], seed=seed)
    got = shares(router)
    assert got["churn/2"] == pytest.approx(0.05, abs=0.01)
    assert got["churn/1"] == pytest.approx(0.95, abs=0.01)


def test_weights_are_relative_and_zero_weights_never_win() -> None:
    router = Router([Route("a", 1), Route("off", 0), Route("b", 3), Route("also-off", 0.0)], seed=4)
    got = shares(router)
    assert set(got) == {"a", "b"}
    assert got["a"] == pytest.approx(0.25, abs=0.01)
    assert router.share("b") == 0.75 and router.share("off") == 0.0
    sticky = Router([Route("off", 0), Route("on", 2)], sticky=True)
    assert {sticky.choose(f"user-{i}") for i in range(500)} == {"on"}


def test_the_same_seed_gives_the_same_draws() -> None:
    routes = [Route("a", 50), Route("b", 50)]
    first, second = Router(routes, seed=11), Router(routes, seed=11)
    assert [first.choose() for _ in range(200)] == [second.choose() for _ in range(200)]


def test_sticky_keys_always_get_the_same_route_and_spread_by_weight() -> None:
    routes = [Route("blue", 70), Route("green", 30)]
    router, again = Router(routes, sticky=True, seed=1), Router(routes, sticky=True, seed=99)
    keys = [f"customer-{i}" for i in range(20_000)]
    chosen = [router.choose(k) for k in keys]
    assert chosen == [router.choose(k) for k in keys]
    assert chosen == [again.choose(k) for k in keys]  # a stable hash, not the seed
    assert chosen.count("green") / len(keys) == pytest.approx(0.30, abs=0.01)


def test_ramping_a_canary_moves_only_the_keys_it_must() -> None:
    keys = [f"session-{i}" for i in range(20_000)]
    before = Router([Route("v1", 95), Route("v2", 5)], sticky=True)
    after = Router([Route("v1", 90), Route("v2", 10)], sticky=True)
    old = {k: before.choose(k) for k in keys}
    new = {k: after.choose(k) for k in keys}
    assert all(new[k] == "v2" for k in keys if old[k] == "v2")  # canary users stay on the canary
    moved = sum(old[k] != new[k] for k in keys) / len(keys)
    assert moved == pytest.approx(0.05, abs=0.01)


def test_sticky_router_without_a_key_draws_at_random() -> None:
    router = Router([Route("a", 50), Route("b", 50)], sticky=True, seed=3)
    assert set(shares(router, 2_000)) == {"a", "b"}


def test_a_single_route_always_wins_and_shadows_are_listed() -> None:
    router = Router([Route("prod", 1)], shadows=["candidate/7", "candidate/8"])
    assert {router.choose(None) for _ in range(50)} == {"prod"}
    assert router.choose("anyone") == "prod"
    assert router.shadow_targets() == ("candidate/7", "candidate/8")
    assert router.routes == (Route("prod", 1),)
    assert Router([Route("prod", 1)]).shadow_targets() == ()


@pytest.mark.parametrize(
    ("routes", "shadows", "field"),
    [
        ([], (), "routes"),
        ([Route("a", 1), Route("a", 2)], (), "routes"),
        ([Route("", 1)], (), "routes"),
        ([Route("a", -1), Route("b", 2)], (), "weight"),
        ([Route("a", float("nan"))], (), "weight"),
        ([Route("a", float("inf"))], (), "weight"),
        ([Route("a", 0), Route("b", 0)], (), "weight"),
        ([Route("a", 1)], ("s", "s"), "shadows"),
        ([Route("a", 1)], ("",), "shadows"),
    ],
)
def test_invalid_routes_are_refused(routes: list[Route], shadows: tuple[str, ...], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Router(routes, shadows=shadows)
    assert info.value.field == field
