"""A third-party task (tests/fixtures/carnet_example_task) loads and runs exactly like a built-in one.

CI installs it with ``pip install -e tests/fixtures/carnet_example_task --no-deps -q``; the first
test checks that installed path. The second builds the same entry point in a temporary folder,
so the plugin path is exercised even where the package is not installed.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from carnet.domain.training import Predictions, SplitSpec
from carnet.plugins.api import Task
from carnet.plugins.loader import registry
from carnet.tasks import default_split, get_task, required_columns

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "carnet_example_task"
PIP = "pip install -e tests/fixtures/carnet_example_task --no-deps -q"
NAME = "quantile_regression"


def _runs_like_a_builtin(task: Task) -> None:
    """The same calls the training engine makes on a built-in task."""
    assert isinstance(task, Task) and task.name == NAME and task.family == "regression"
    assert get_task(NAME) is task and NAME in registry("task").names()
    assert task.primary_metric() == ("mae", "minimize") and "mae" in task.default_metrics()
    assert task.default_model() in task.models()
    assert default_split(task) == SplitSpec() and required_columns(task, {}) == []  # optional extras
    frame = load_diabetes(as_frame=True).frame
    options = {"quantile": 0.5}
    task.check_target(frame, "target", options)
    [(train, test)] = task.split(frame, "target", SplitSpec(), 0, options)
    assert len(train) + len(test) == len(frame) and len(np.intersect1d(train, test)) == 0
    model = task.models()[task.default_model()]()
    X = frame.drop(columns="target")
    fitted = task.fit(model, X.iloc[train], frame["target"].iloc[train], options)
    pred = task.predict(fitted, X.iloc[test], options)
    assert isinstance(pred, Predictions) and pred.y_pred.shape == (len(test),)
    truth = task.truth(frame.iloc[test], "target", options)
    baseline = np.mean(np.abs(truth - frame["target"].iloc[train].median()))
    assert np.mean(np.abs(truth - pred.y_pred)) < baseline


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Forget discovered entry points before and after (the registry is cached per process)."""
    registry("task").reset()
    yield
    registry("task").reset()


def test_installed_example_plugin(fresh_registry: None) -> None:
    try:
        distribution("carnet-example-task")
    except PackageNotFoundError:
        pytest.skip(f"the example plugin is not installed; run: {PIP}")
    _runs_like_a_builtin(get_task(NAME))


def test_example_plugin_from_its_declared_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    project = tomllib.loads((FIXTURE / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"]["carnet.tasks"]
    assert declared == {NAME: "carnet_example_task:QuantileRegression"}
    dist = tmp_path / "carnet_example_task_selftest-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: carnet-example-task-selftest\nVersion: 0.1\n"
    )
    lines = "".join(f"{name} = {value}\n" for name, value in declared.items())
    (dist / "entry_points.txt").write_text(f"[carnet.tasks]\n{lines}")
    monkeypatch.syspath_prepend(str(FIXTURE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "carnet_example_task", raising=False)
    _runs_like_a_builtin(get_task(NAME))
