"""The generic plugin registry discovers real entry points lazily."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from carnet.errors import InvalidInput, NotFound
from carnet.plugins import Registry


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An installed-looking distribution with two entry points in group ``carnet.testgroup``."""
    pkg = tmp_path / "carnet_fake_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            LOADED = True

            class Good:
                name = "good"

            def broken():
                pass
            """
        )
    )
    dist = tmp_path / "carnet_fake_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: carnet-fake-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[carnet.testgroup]\ngood = carnet_fake_plugin:Good\nmissing = carnet_fake_plugin:DoesNotExist\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "carnet_fake_plugin", raising=False)
    return "carnet.testgroup"


def test_discovery_is_lazy_and_loads_on_get(plugin_dist: str) -> None:
    reg: Registry[type] = Registry(plugin_dist, "widget")
    assert reg.names() == ["good", "missing"]
    assert "carnet_fake_plugin" not in sys.modules  # listing does not import
    good = reg.get("good")
    assert good.name == "good"
    assert "carnet_fake_plugin" in sys.modules
    assert "good" in reg


def test_unknown_and_broken_plugins_give_typed_errors(plugin_dist: str) -> None:
    reg: Registry[type] = Registry(plugin_dist, "widget")
    with pytest.raises(NotFound, match="unknown widget 'nope'; known: good, missing"):
        reg.get("nope")
    with pytest.raises(InvalidInput, match="widget plugin 'missing'"):
        reg.get("missing")


def test_check_rejects_and_register_overrides(plugin_dist: str) -> None:
    def only_classes(obj: object) -> type:
        if not isinstance(obj, type):
            raise TypeError("not a class")
        return obj

    reg: Registry[type] = Registry(plugin_dist, "widget", check=only_classes)
    with pytest.raises(TypeError):
        reg.register("inline", "not a class")  # type: ignore[arg-type]
    reg.register("inline", int)
    assert reg.get("inline") is int
    assert reg.names() == ["good", "inline", "missing"]
