"""A conformance check for lifecycle hook plugins: run :func:`check_hooks` in your plugin's tests.

Example::

    from carnet.testing import check_hooks
    from my_package import hooks

    def test_my_hooks_honour_the_contract() -> None:
        report = check_hooks(hooks)
        assert "before_promote" in report["hooks"]
"""

from __future__ import annotations

import time
from typing import Any

from carnet.errors import HookRefused

__all__ = ["check_hooks", "sample_arguments"]


def sample_arguments() -> dict[str, Any]:
    """One realistic value for every argument a hook may take."""
    from carnet.domain import Alert, AuditEvent, GateResult, ModelVersion, Promotion
    from carnet.domain.models import ColumnSpec, Signature
    from carnet.domain.monitors import MonitorWindow
    from carnet.domain.training import ModelSpec, TrainSpec

    now = time.time()
    version = ModelVersion(
        name="churn",
        version=2,
        flavor="sklearn",
        artifact_digest="blake3:" + "0" * 64,
        file_name="model.skops",
        run_id="0" * 32,
        signature=Signature((ColumnSpec("tenure", "int64"), ColumnSpec("plan", "object"))),
        created_at=now,
        created_by="alice",
        task="binary",
        metrics={"roc_auc": 0.91},
    )
    promotion = Promotion(
        id=1, name="churn", version=2, alias="production", previous_version=1, passed=True, applied=True,
        results=(GateResult("metric roc_auc", "metric", True, "0.91", ">= 0.8", 0.91),), policy={},
        actor="alice", created_at=now,
    )  # fmt: skip
    alert = Alert(
        id=1, monitor="churn-prod", rule="drift_share > 0.3", status="open", value=0.42, threshold=0.3,
        window_seq=3, opened_at=now, updated_at=now, message="drift_share 0.42 > 0.3",
    )  # fmt: skip
    window = MonitorWindow("churn-prod", 3, now - 3600, now, 500, (2,), {"drift_share": 0.42})
    event = AuditEvent(
        seq=1, time=now, actor="alice", action="model.register", subject_type="model", subject_id="churn",
        payload={"version": 2}, payload_digest="2" * 64, prev_hash="0" * 64, hash="1" * 64,
    )  # fmt: skip
    spec = TrainSpec(dataset="churn@2", task="binary", target="churned", model=ModelSpec("lightgbm"))
    return {
        "name": "churn",
        "project": "crm",
        "source": "churn.csv",
        "version": version,
        "created": True,
        "spec": spec,
        "run_id": "0" * 32,
        "metrics": {"roc_auc": 0.91},
        "alias": "production",
        "dry_run": False,
        "context": None,
        "promotion": promotion,
        "previous": 1,
        "reason": "a bad release",
        "models": ["churn/2"],
        "host": "127.0.0.1",
        "port": 8080,
        "model": "churn/2",
        "inputs": [[1, 2], [3, 4]],
        "monitor": "churn-prod",
        "window": window,
        "alert": alert,
        "event": event,
    }


def _fail(message: str) -> AssertionError:
    return AssertionError(f"hook plugin: {message}")


def check_hooks(plugin: Any) -> dict[str, Any]:
    """Check that ``plugin`` honours the lifecycle hook contract.

    Checks: it implements at least one of carnet's hooks and none carnet does not have, with
    arguments the hook has; each hook, called with sample arguments: a ``before_*`` hook returns
    None or raises ``HookRefused`` with a reason (any other exception would refuse every change);
    an ``after_*`` hook returns without raising; ``promotion_gates`` returns None or a list of
    ``GateResult``; a ``predict_batch`` wrapper hands back a result for the batch.

    Returns:
        A report: the hooks implemented, and which ``before_*`` hooks refused the samples (with the
        reason).

    Raises:
        AssertionError: naming the first violation.
    """
    from carnet.domain import GateResult
    from carnet.plugins.hooks import check_hook_plugin, plugin_manager

    try:
        hooks = check_hook_plugin(plugin)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    pm = plugin_manager([("checked", plugin)])
    samples = sample_arguments()
    refused: dict[str, str] = {}
    for name in hooks:
        caller = getattr(pm.hook, name)
        impls = [i for i in caller.get_hookimpls() if i.plugin_name == "checked"]
        if name == "predict_batch":
            result = caller(model="churn/2", inputs=[1, 2, 3], predict=lambda rows: [r * 2 for r in rows])
            if result is None:
                raise _fail("the predict_batch wrapper returned None: return the (possibly changed) result")
            continue
        for impl in impls:
            kwargs = {k: samples[k] for k in impl.argnames}
            try:
                value = impl.function(**kwargs)
            except HookRefused as exc:
                if not name.startswith("before_"):
                    raise _fail(f"{name} raised HookRefused; only before_* hooks may refuse") from exc
                if not str(exc).strip():
                    raise _fail(f"{name} refused without a reason: HookRefused('why')") from exc
                refused[name] = str(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - the violation reported
                effect = "would refuse every change" if name.startswith("before_") else "must not raise"
                raise _fail(f"{name} raised {type(exc).__name__}: {exc} ({effect})") from exc
            if name == "promotion_gates":
                if value is not None and not (
                    isinstance(value, list | tuple) and all(isinstance(v, GateResult) for v in value)
                ):
                    raise _fail(f"promotion_gates returned {value!r}; return a list of GateResult or None")
            elif value is not None and name.startswith(("before_", "after_")):
                raise _fail(f"{name} returned {value!r}; it returns None (refuse by raising HookRefused)")
    return {"hooks": hooks, "refused": refused}
