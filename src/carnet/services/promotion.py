"""Governed alias changes: policies, gated promotion, rollback.

A promotion loads the candidate (digest verified), the version now holding the alias and
the policy's evaluation data, runs every gate of the policy and stores the results with
the promotion. A passing promotion moves the alias in the same transaction as its record
and audit event; a failing one is stored and audited as refused.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from carnet.domain import ColumnProfile, DatasetRef, GateResult, ModelVersion, Policy, Promotion
from carnet.domain.models import check_alias, missing_alias
from carnet.errors import Conflict, GateFailed, InvalidInput, NotFound, PermissionDenied
from carnet.services.context import ServiceContext, record
from carnet.services.datasets import DatasetService
from carnet.services.hooks import hooks_of
from carnet.services.registry import RegistryService
from carnet.services.tracking import TrackingService

__all__ = ["PromotionService"]

ProgressFn = Callable[[str, int, int], None]


class PromotionService:
    """Policies, gated promotions and rollbacks of registered models."""

    def __init__(
        self,
        ctx: ServiceContext,
        registry: RegistryService,
        datasets: DatasetService,
        tracking: TrackingService,
    ) -> None:
        self.ctx = ctx
        self.registry = registry
        self.datasets = datasets
        self.tracking = tracking

    # -- policies -----------------------------------------------------------------
    def set_policy(
        self, source: str | Path | Mapping[str, Any], *, model: str | None = None, project: str | None = None
    ) -> Policy:
        """Validate and store a policy for one model, or as a project's default.

        Raises:
            InvalidInput: the policy is invalid (the field is named), or neither/both of
                ``model`` and ``project`` given.
        """
        from carnet.domain.policies import policy_to_dict
        from carnet.gates.policy import load_policy

        if (model is None) == (project is None):
            raise InvalidInput("give exactly one of model or project for a policy", field="model")
        from carnet.domain.validation import check_document

        policy = load_policy(source if not isinstance(source, Mapping) else check_document(dict(source), ""))
        text = json.dumps(check_document(policy_to_dict(policy), ""), sort_keys=True)
        with self.ctx.store.transaction() as tx:
            model_id: int | None = None
            if model is not None:
                model_id = tx.models.model_id(model)
                project_id = tx.models.project_of(model_id)
            else:
                project_id = tx.projects.get(str(project)).id
            tx.models.set_policy(project_id, model_id, text, self.ctx.actor, self.ctx.clock())
            subject = ("model", str(model)) if model is not None else ("project", str(project))
            record(self.ctx, tx, "policy.set", subject[0], subject[1], {"policy": json.loads(text)})
        return policy

    def policy_for(self, name: str) -> Policy | None:
        """The policy in force for a model: its own, else its project's default, else None."""
        from carnet.gates.policy import load_policy

        with self.ctx.store.transaction(write=False) as tx:
            model_id = tx.models.model_id(name)
            project_id = tx.models.project_of(model_id)
            found = tx.models.get_policy(project_id, model_id) or tx.models.get_policy(project_id, None)
        return None if found is None else load_policy(json.loads(found["source"]))

    def project_policy(self, project: str) -> Policy | None:
        """A project's default policy, or None."""
        from carnet.gates.policy import load_policy

        with self.ctx.store.transaction(write=False) as tx:
            found = tx.models.get_policy(tx.projects.get(project).id, None)
        return None if found is None else load_policy(json.loads(found["source"]))

    # -- promotion ----------------------------------------------------------------
    def promote(
        self,
        name: str,
        version: int,
        alias: str,
        *,
        dry_run: bool = False,
        policy: str | Path | Mapping[str, Any] | None = None,
        allow_pickle: bool = False,
        progress: ProgressFn | None = None,
        request: bool = False,
        on_gate: Callable[[int, GateResult], None] | None = None,
    ) -> Promotion:
        """Run the policy's gates on ``name/version`` for ``alias``; move the alias when all pass.

        ``request``: a promotion *request* (an editor's): the gates run and their verdict is stored
        and audited (``model.promote.requested``), but the alias never moves; a request refused only
        for want of approvals joins the approvals queue, where an approver approves and an admin
        promotes. ``on_gate(index, result)`` hears each gate's verdict as soon as it has one.

        ``policy`` overrides the stored one (for a dry run, or an ad-hoc check). Without any
        policy the promotion is refused: promoting needs a stated policy (set one, or use
        ``set_alias`` to move an alias without gates).

        Returns:
            The promotion (``passed``, ``applied``, gate results). A dry run stores nothing and
            returns the promotion whether or not it passed.

        Raises:
            GateFailed: a gate failed (not on a dry run): the refused promotion is stored and
                audited first, and ``exc.promotion`` holds it.
            NotFound: unknown model or version. InvalidInput: bad policy or alias.
            Conflict: the alias moved while the gates ran.
        """
        from carnet.domain.policies import policy_to_dict
        from carnet.gates.policy import load_policy
        from carnet.gates.runner import run_gates

        check_alias(alias)
        if request and dry_run:
            raise InvalidInput("a promotion request is stored: it cannot be a dry run", field="dry_run")
        mv = self.registry.resolve(name, version)
        chosen = load_policy(policy if not isinstance(policy, Mapping) else dict(policy)) if policy else None
        chosen = chosen or self.policy_for(name)
        if chosen is None:
            raise InvalidInput(
                f"no promotion policy for model {name!r}: store one with "
                f"carnet models policy set FILE --model {name} (or --project), or pass --policy FILE",
                field="policy",
            )
        if not chosen.guards(alias):
            raise InvalidInput(
                f"policy {chosen.name!r} guards aliases {', '.join(chosen.aliases)}, not {alias!r}",
                field="alias",
            )
        hooks = hooks_of(self.ctx)
        with hooks.quiet() if dry_run else contextlib.nullcontext():
            hooks.before(self.ctx, "before_promote", version=mv, alias=alias, dry_run=dry_run)
            ctx = self.gate_context(mv, alias, chosen, allow_pickle)
            results = run_gates(chosen, ctx, progress=progress, on_result=on_gate)
            results += _hook_gates(
                hooks.after(self.ctx, "promotion_gates", version=mv, alias=alias, context=ctx)
            )
        passed = all(r.passed for r in results)
        previous = ctx.incumbent_version.version if ctx.incumbent_version is not None else None
        promotion = Promotion(
            id=0,
            name=name,
            version=mv.version,
            alias=alias,
            previous_version=previous,
            passed=passed,
            applied=passed and not dry_run and not request,
            results=tuple(results),
            policy=policy_to_dict(chosen),
            actor=self.ctx.actor,
            created_at=self.ctx.clock(),
            kind="request" if request else "promote",
        )
        if dry_run:
            return promotion
        with self.ctx.store.transaction() as tx:
            model_id = tx.models.model_id(name)
            if tx.models.get_alias(model_id, alias) != previous:
                raise Conflict(
                    f"alias {alias!r} of {name!r} moved while the gates ran; run the promotion again",
                    field="alias",
                )
            pid = tx.models.insert_promotion(model_id, promotion)
            summary = [{"gate": r.gate, "passed": r.passed, "measured": r.measured} for r in results]
            if promotion.applied:
                tx.models.set_alias(
                    model_id, alias, mv.version, promotion.created_at, kind="promote", actor=self.ctx.actor
                )
            action = "model.promote" if passed else "model.promote.refused"
            record(
                self.ctx,
                tx,
                "model.promote.requested" if request else action,
                "model",
                name,
                {
                    "promotion": pid,
                    "version": mv.version,
                    "alias": alias,
                    "previous": previous,
                    "policy": chosen.name,
                    "gates": summary,
                },
            )
        stored = replace(promotion, id=pid)
        hooks.after(self.ctx, "after_promote", promotion=stored)
        if not passed and not request:
            failed = ", ".join(r.gate for r in results if not r.passed)
            raise GateFailed(
                f"promotion of {name}/{mv.version} to {alias!r} refused: failed {failed}",
                field="gates",
                promotion=stored,
            )
        return stored

    def stress(
        self,
        ref: str,
        data: str,
        *,
        scenarios: list[dict[str, Any]] | None = None,
        metric: str | None = None,
        seed: int = 0,
        allow_pickle: bool = False,
    ) -> dict[str, Any]:
        """The stress gate's scenarios on their own: ``ref``'s metric on ``data`` (a dataset version or
        a CSV/Parquet file), then under each perturbation (the defaults that fit the model's columns
        when ``scenarios`` is None), each judged against its ``max_degradation``. Changes nothing.

        Raises:
            InvalidInput: a bad scenario (named, e.g. ``scenarios[1].fraction``) or data lacking the
                model's columns.
        """
        from carnet.gates.stress import StressGate

        config: dict[str, Any] = {}
        if scenarios is not None:
            config["scenarios"] = list(scenarios)
        if metric is not None:
            config["metric"] = metric
        gate = StressGate()
        gate.validate(config)  # a user mistake is an error, not a failed scenario
        mv = self.registry.resolve(ref)
        if mv.task == "rl":  # a policy is stressed in its environment: no data
            ctx = self.gate_context(mv, "stress", Policy(name="stress", gates=(), seed=seed), allow_pickle)
            result = gate.check(config, ctx)
            return {
                "model": mv.ref,
                "data": f"environment {ctx.options.get('env')}",
                "passed": result.passed,
                "measured": result.measured,
                "error": result.error,
                **dict(result.details or {}),
            }
        if not data:
            raise InvalidInput(
                "give the data to stress: a dataset version (name@N) or a CSV/Parquet file with the target",
                field="data",
            )
        path = Path(data)
        if path.suffix and path.exists():
            from carnet.data import read_table

            frame, data_ref = read_table(path).to_pandas(), str(path)
        else:
            version, frame = self.datasets.load_frame(data)
            data_ref = version.ref
        policy = Policy(name="stress", gates=(), seed=seed)
        ctx = self.gate_context(mv, "stress", policy, allow_pickle, frame=frame, data=data_ref)
        if ctx.target is None or ctx.target not in frame.columns:
            raise InvalidInput(
                f"{data_ref} has no target column {ctx.target!r} to score against", field="data"
            )
        result = gate.check(config, ctx)
        return {
            "model": mv.ref,
            "data": data_ref,
            "passed": result.passed,
            "measured": result.measured,
            "error": result.error,
            **dict(result.details or {}),
        }

    def _parent(self, mv: ModelVersion, incumbent: Any, incumbent_version: Any) -> tuple[Any, Any]:
        """The model ``mv`` was derived from and its record (None, None when it has none or it is gone)."""
        reuse = mv.extra.get("reuse")
        if not isinstance(reuse, dict) or not reuse.get("from"):
            return None, None
        ref = str(reuse["from"])
        if incumbent_version is not None and incumbent_version.ref == ref:
            return incumbent, incumbent_version
        try:
            return self.registry.load(ref)
        except (NotFound, PermissionDenied):
            return None, None

    def gate_context(
        self,
        mv: ModelVersion,
        alias: str,
        policy: Policy,
        allow_pickle: bool,
        *,
        frame: Any = None,
        data: str | None = None,
    ) -> Any:
        """What the gates judge ``mv`` on for ``alias``: its model, the incumbent, the evaluation rows."""
        from carnet.gates import GateContext
        from carnet.tasks import get_task

        if not mv.task:
            raise InvalidInput(
                f"{mv.ref} has no task recorded; gates need one (register it with task=...)", field="task"
            )
        task = get_task(mv.task)
        candidate, _ = self.registry.load(mv.ref, allow_pickle=allow_pickle)
        incumbent = incumbent_version = None
        try:
            holder = self.registry.resolve(f"{mv.name}@{alias}")
        except NotFound:
            holder = None
        if holder is not None and holder.version != mv.version:
            incumbent, incumbent_version = self.registry.load(holder.ref, allow_pickle=allow_pickle)
        parent, parent_version = self._parent(mv, incumbent, incumbent_version)
        if frame is None and policy.evaluation_data:
            data = policy.evaluation_data
            _, frame = self.datasets.load_frame(policy.evaluation_data)
        if frame is not None:
            missing = [c for c in mv.signature.input_names() if c not in frame.columns]
            if missing:
                raise InvalidInput(
                    f"evaluation data {data} lacks the model's input columns {', '.join(missing[:10])}",
                    field="evaluation_data" if data == policy.evaluation_data else "data",
                )
        server = self.ctx.settings.server
        return GateContext(
            task=task,
            candidate=candidate,
            candidate_version=mv,
            alias=alias,
            frame=frame,
            features=mv.signature.input_names(),
            target=policy.target or mv.extra.get("target"),
            options=self._task_options(mv),
            incumbent=incumbent,
            incumbent_version=incumbent_version,
            parent=parent,
            parent_version=parent_version,
            approvals=self.registry.approvals(mv.name, mv.version, alias),
            training_profile=self._training_profile(mv),
            training_loader=self._training_loader(mv),
            seed=policy.seed,
            workspace_has_users=self._has_users(),
            allowed_modules=None if server is None else tuple(server.allowed_model_modules),
        )

    def _has_users(self) -> bool:
        with self.ctx.store.transaction(write=False) as tx:
            return bool(tx.auth.list_users())

    def _task_options(self, mv: ModelVersion) -> dict[str, Any]:
        if not mv.run_id:
            return {}
        from carnet.training import load_spec

        for art in self.tracking.list_artifacts(mv.run_id):
            if art.path == "spec.yaml":
                return dict(load_spec(self.ctx.artifacts.get_bytes(art.digest).decode()).task_options)
        return {}

    def _training_loader(self, mv: ModelVersion) -> Callable[[list[str] | None], Any] | None:
        """Reads the version's training dataset (some columns, or all) when a gate asks for it
        (None without one)."""
        if not mv.datasets:
            return None
        ref = mv.datasets[0]

        def load(columns: list[str] | None = None) -> Any:
            return self.datasets.load_frame(ref, columns=columns)[1]

        return load

    def _training_profile(self, mv: ModelVersion) -> dict[str, ColumnProfile]:
        if not mv.datasets:
            return {}
        try:
            version = self.datasets.get(DatasetRef.parse(mv.datasets[0]))
        except NotFound:
            return {}
        return {c.name: c for c in version.profile}

    # -- rollback -----------------------------------------------------------------
    def rollback(self, name: str, alias: str = "production", *, reason: str) -> Promotion:
        """Move ``alias`` back to the version that held it before the current one, audited.

        Raises:
            InvalidInput: no reason given. NotFound: the alias is not set.
            Conflict: no earlier version held the alias.
        """
        check_alias(alias)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("a rollback needs a reason (--reason TEXT)", field="reason")
        hooks = hooks_of(self.ctx)
        hooks.before(self.ctx, "before_rollback", name=name, alias=alias, reason=reason)
        promotion = self._rollback(name, alias, reason)
        hooks.after(self.ctx, "after_rollback", promotion=promotion)
        return promotion

    def _rollback(self, name: str, alias: str, reason: str) -> Promotion:
        with self.ctx.store.transaction() as tx:
            model_id = tx.models.model_id(name)
            current = tx.models.get_alias(model_id, alias)
            if current is None:
                raise missing_alias(name, alias, list(tx.models.get_model(name).aliases))
            target = _previous_holder(tx.models.alias_history(model_id, alias))
            if target is None or target == current:
                raise Conflict(
                    f"no earlier version of {name!r} held {alias!r}; nothing to roll back to", field="alias"
                )
            now = self.ctx.clock()
            tx.models.set_alias(
                model_id, alias, target, now, kind="rollback", actor=self.ctx.actor, reason=reason
            )
            promotion = Promotion(
                id=0,
                name=name,
                version=target,
                alias=alias,
                previous_version=current,
                passed=True,
                applied=True,
                results=(),
                policy={},
                actor=self.ctx.actor,
                created_at=now,
                kind="rollback",
                reason=reason,
            )
            pid = tx.models.insert_promotion(model_id, promotion)
            record(
                self.ctx,
                tx,
                "model.rollback",
                "model",
                name,
                {"alias": alias, "from": current, "to": target, "reason": reason, "promotion": pid},
            )
        return replace(promotion, id=pid)

    def promotions(self, name: str, version: int | None = None) -> list[Promotion]:
        """Promotions and rollbacks of a model (one version), oldest first."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.models.promotions(name, version)

    def awaiting_approval(self, name: str) -> list[Promotion]:
        """Promotions of a model that wait only for approvals: for each version and alias, the newest
        promotion, when it was refused and every gate it failed is an approval gate, for a version
        the alias does not already hold (the approvals queue)."""
        with self.ctx.store.transaction(write=False) as tx:
            history = tx.models.promotions(name, None)
            aliases = tx.models.get_model(name).aliases
        latest: dict[tuple[int, str], Promotion] = {}
        for p in history:
            if p.kind in ("promote", "request"):
                latest[(p.version, p.alias)] = p
        waiting = []
        for (version, alias), p in sorted(latest.items()):
            failed = [r for r in p.results if not r.passed]
            if p.applied or not failed or any(r.type != "approval" for r in failed):
                continue
            if aliases.get(alias) != version:
                waiting.append(p)
        return waiting


def _previous_holder(history: list[dict[str, Any]]) -> int | None:
    """The version a rollback returns to: the holder before the current one, skipping undone moves.

    The alias's holders form a stack: a set or promotion pushes, a rollback pops, a delete
    empties it. The target is the entry under the top.
    """
    stack: list[int] = []
    for move in history:
        if move["kind"] == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != move["version"]:
                stack.append(int(move["version"]))
        elif move["kind"] == "delete":
            stack.clear()
        elif move["version"] is not None and (not stack or stack[-1] != move["version"]):
            stack.append(int(move["version"]))
    return stack[-2] if len(stack) >= 2 else None


def _hook_gates(contributed: list[Any]) -> list[GateResult]:
    """The gate results hook plugins returned (``promotion_gates``); anything else is a failed gate."""
    out: list[GateResult] = []
    for value in contributed:
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, GateResult):
                out.append(item)
            else:
                out.append(
                    GateResult(
                        "hook", "hook", False,
                        error=f"a promotion_gates hook returned {type(item).__name__}, not a GateResult",
                    )
                )  # fmt: skip
    return out
