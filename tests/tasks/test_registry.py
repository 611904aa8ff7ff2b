"""Tasks are discovered through the ``carnet.tasks`` entry points and conform to the Protocol."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from carnet.domain.training import SplitSpec
from carnet.errors import InvalidInput, NotFound
from carnet.plugins import Registry
from carnet.plugins.api import EVALUATION_FAMILIES, Task
from carnet.plugins.loader import PLUGIN_KINDS, registry
from carnet.tasks import default_split, get_task, required_columns

BUILTINS = {
    "binary": "classification",
    "multiclass": "classification",
    "regression": "regression",
    "clustering": "clustering",
    "anomaly": "anomaly",
    "dim_reduction": "dim_reduction",
    "forecasting": "forecasting",
    "recommendation": "recommendation",
}

COMMON = ["accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_weighted"]
#: the metric names the evaluation engine computes, per task (the contract with carnet.evaluation)
METRICS = {
    "binary": (
        [*COMMON, "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier", "ece"],
        ("roc_auc", "maximize"),
    ),
    "multiclass": ([*COMMON, "roc_auc_ovr", "log_loss", "ece"], ("f1_macro", "maximize")),
    "regression": (["rmse", "mae", "mape", "r2"], ("rmse", "minimize")),
    "clustering": (
        ["silhouette", "davies_bouldin", "calinski_harabasz", "adjusted_rand"],
        ("silhouette", "maximize"),
    ),
    "anomaly": (["roc_auc", "precision_at_k", "anomaly_share"], ("roc_auc", "maximize")),
    "dim_reduction": (
        ["explained_variance", "trustworthiness", "reconstruction_error"],
        ("trustworthiness", "maximize"),
    ),
    "forecasting": (["mae", "rmse", "smape", "mase"], ("mase", "minimize")),
    "recommendation": (["precision_at_k", "recall_at_k", "ndcg_at_k", "coverage"], ("ndcg_at_k", "maximize")),
}

BOOSTERS = ("lightgbm", "xgboost")
GENERAL_MODELS = {
    "binary": {"hist_gradient_boosting", "random_forest", "logistic_regression", "extra_trees", *BOOSTERS},
    "regression": {"hist_gradient_boosting", "random_forest", "ridge", "extra_trees", *BOOSTERS},
    "clustering": {"kmeans", "gaussian_mixture", "agglomerative"},
    "anomaly": {"isolation_forest", "local_outlier_factor", "one_class_svm"},
    "dim_reduction": {"pca", "truncated_svd", "kernel_pca"},
}
GENERAL_MODELS["multiclass"] = GENERAL_MODELS["binary"]


def test_entry_points_declare_every_builtin_task() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group="carnet.tasks")}
    assert set(BUILTINS) <= set(declared)
    assert all(declared[name].startswith("carnet.tasks.") for name in BUILTINS)
    assert set(BUILTINS) <= set(registry("task").names())
    assert registry("task").group == PLUGIN_KINDS["task"].group == "carnet.tasks"


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_task_loads_and_conforms(name: str) -> None:
    task = get_task(name)
    assert isinstance(task, Task)
    assert get_task(name) is task  # one shared, stateless instance
    assert task.name == name
    assert task.family == BUILTINS[name] and task.family in EVALUATION_FAMILIES
    assert task.description and isinstance(task.supervised, bool) and isinstance(task.tabular, bool)
    metrics, primary = METRICS[name]
    assert task.default_metrics() == metrics
    assert task.primary_metric() == primary
    own = task.models()
    candidates = task.candidate_models()
    assert task.default_model() in candidates
    if task.tabular:
        assert own == {}
        assert set(candidates) == GENERAL_MODELS[name]
    else:
        assert set(candidates) == set(own)
        for factory in own.values():
            est = factory()
            assert hasattr(est, "get_params") and hasattr(est, "set_params") and hasattr(est, "fit")
    split = default_split(task)
    assert isinstance(split, SplitSpec)
    assert split.kind == ("none" if name in ("clustering", "anomaly", "dim_reduction") else "holdout")
    assert isinstance(required_columns(task, {}), list)


def test_supervision_and_tabular_flags() -> None:
    supervised = {n for n in BUILTINS if get_task(n).supervised}
    tabular = {n for n in BUILTINS if get_task(n).tabular}
    assert supervised == {"binary", "multiclass", "regression", "forecasting"}
    assert tabular == {"binary", "multiclass", "regression", "clustering", "anomaly", "dim_reduction"}


def test_required_columns_name_what_the_task_reads() -> None:
    assert required_columns(get_task("binary"), {"time_column": "t"}) == []
    assert required_columns(get_task("forecasting"), {"time_column": "date"}) == ["date"]
    options = {"user_column": "u", "item_column": "i", "rating_column": "r"}
    assert required_columns(get_task("recommendation"), options) == ["u", "i", "r"]


def test_helpers_fall_back_for_tasks_without_the_extras() -> None:
    class Minimal:
        pass

    assert default_split(Minimal()) == SplitSpec()  # type: ignore[arg-type]
    assert required_columns(Minimal(), {"x": 1}) == []  # type: ignore[arg-type]


def test_unknown_task_lists_the_known_ones() -> None:
    with pytest.raises(NotFound, match=r"unknown task 'nope'; known: .*binary.*regression") as err:
        get_task("nope")
    assert err.value.field == "task"


def test_check_instantiates_classes_and_rejects_non_tasks() -> None:
    from carnet.tasks.regression import Regression

    assert isinstance(PLUGIN_KINDS["task"].check(Regression), Regression)

    class NotATask:
        name = "half"
        family = "regression"

    with pytest.raises(TypeError, match="not a carnet task: missing description, supervised"):
        PLUGIN_KINDS["task"].check(NotATask)

    class WrongFamily(Regression):
        family = "astrology"

    with pytest.raises(ValueError, match="family 'astrology'; expected one of classification"):
        PLUGIN_KINDS["task"].check(WrongFamily)


def test_broken_entry_point_is_reported_as_invalid_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "carnet_bad_task"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from carnet.tasks.regression import Regression

            class Astrology(Regression):
                name = "astrology"
                family = "astrology"
            """
        )
    )
    dist = tmp_path / "carnet_bad_task-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: carnet-bad-task\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[carnet.tasks]\nastrology = carnet_bad_task:Astrology\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    tasks: Registry[Task] = Registry("carnet.tasks", "task", check=PLUGIN_KINDS["task"].check)
    assert "astrology" in tasks.names()
    with pytest.raises(InvalidInput, match=r"task plugin 'astrology' .* family 'astrology'"):
        tasks.get("astrology")
    assert isinstance(tasks.get("binary"), Task)


def test_importing_and_loading_tasks_is_cheap() -> None:
    heavy = ["pandas", "numpy", "sklearn", "scipy", "statsmodels"]
    code = textwrap.dedent(
        f"""
        import json, sys
        import carnet.tasks
        before = [m for m in {heavy!r} if m in sys.modules]
        from carnet.plugins import registry
        from carnet.tasks import get_task
        tasks = [get_task(n) for n in registry("task").names() if n in {sorted(BUILTINS)!r}]
        [t.default_metrics() for t in tasks]
        after = [m for m in {heavy!r} if m in sys.modules]
        print(json.dumps([before, after, len(tasks)]))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after, n = json.loads(out.stdout)
    assert (before, after, n) == ([], [], len(BUILTINS))
