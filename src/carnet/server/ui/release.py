"""UI forms that release a model without code: a promotion whose gates run in the background and
show as they go, and a deployment of a version (or its alias) to an endpoint, whole or as a canary.

A promotion request is ``request_promotion`` (its role, its checks, the promotion service with a progress
callback); a deployment is ``set_deployment``. Both act as the user, so the audit events name them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from carnet.domain import GateResult
from carnet.domain.deployments import check_endpoint
from carnet.domain.models import check_alias
from carnet.errors import InvalidInput, NotFound
from carnet.schemas import PromotionOut
from carnet.server.api import deployments, registry
from carnet.server.api.auth import Caller
from carnet.server.jobs import Job, jobs_of
from carnet.server.ui.app import render
from carnet.server.ui.nocode import describe_failure
from carnet.server.ui.session import check_csrf, ui_caller

__all__ = ["ui_deploy", "ui_promote_request", "ui_promotion_job"]


def _version_number(version: str) -> int:
    if not version.isdigit() or not 1 <= int(version) < 2**63:
        raise InvalidInput(f"version must be a whole number >= 1, got {version[:40]!r}", field="version")
    return int(version)


def _field(form: dict[str, Any], key: str, default: str = "", limit: int = 256) -> str:
    value = form.get(key)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        raise InvalidInput(f"{key} is longer than {limit} characters", field=key)
    return text or default


# -- promotion ------------------------------------------------------------------------------------
def _prepare_promotion(
    request: Request, caller: Caller, name: str, number: int, alias: str
) -> tuple[str, list[str]]:
    """The model's project (the caller's role checked there) and the labels of the gates the policy
    in force would run; refuses a bad alias, an unknown version or a missing policy before any work."""
    from carnet.gates.policy import load_policy

    project = caller.services.registry.get_model(name).project
    caller.require(project)  # request_promotion's role on the model's project, first
    registry.get_model_version(name, str(number), ui_caller(request, "get_model_version"))
    check_alias(alias)
    policy = load_policy(deployments.get_model_policy(name, ui_caller(request, "get_model_policy")).policy)
    if not policy.guards(alias):
        raise InvalidInput(
            f"policy {policy.name!r} guards aliases {', '.join(policy.aliases)}, not {alias!r}", field="alias"
        )
    return project, [spec.label for spec in policy.gates]


def _promotion_work(caller: Caller, name: str, number: int, alias: str) -> Any:
    """The job's work: the promotion request, each gate marked as it starts and its verdict shown as
    soon as it has one, then every gate's result."""

    def work(job: Job) -> dict[str, Any]:
        def progress(label: str, i: int, n: int) -> None:
            job.update_step(i - 1, gate=label, state="running")
            job.report("gates", i - 1, n)

        def on_gate(index: int, r: GateResult) -> None:
            job.update_step(
                index,
                gate=r.gate,
                type=r.type,
                state="pass" if r.passed else "fail",
                measured=r.measured,
                threshold=r.threshold,
                error=r.error,
            )
            job.report("gates", index + 1, job.total)

        promotion = caller.services.promotion.promote(
            name, number, alias, progress=progress, request=True, on_gate=on_gate
        )
        refused = not promotion.passed
        out = PromotionOut.of(promotion)
        job.set_steps(
            [
                {
                    "gate": r.gate,
                    "type": r.type,
                    "state": "pass" if r.passed else "fail",
                    "measured": r.measured,
                    "threshold": r.threshold,
                    "error": r.error,
                }
                for r in out.results
            ]
        )
        job.report("gates", len(out.results), len(out.results))
        waiting = refused and all(r.type == "approval" for r in out.results if not r.passed)
        return {"promotion": out.model_dump(mode="json"), "refused": refused, "awaiting_approval": waiting}

    return work


async def ui_promote_request(request: Request, name: str, version: str) -> Response:
    """Promote a version to an alias under the policy in force, its gates running in the background;
    on to the page that shows each gate as it runs."""
    form = await check_csrf(request)
    number = _version_number(version)
    alias = _field(form, "alias", "production", 64)
    caller = ui_caller(request, "request_promotion")
    project, labels = await run_in_threadpool(_prepare_promotion, request, caller, name, number, alias)
    job = jobs_of(request.app).submit(
        "promotion",
        caller.user,
        _promotion_work(caller, name, number, alias),
        describe_failure(request),
        project=project,
        subject=f"{name}/{number}",
        steps=[{"gate": label, "state": "waiting"} for label in labels],
    )
    job.notes.update(alias=alias)
    return RedirectResponse(f"/models/{quote(name, safe='')}/{number}/promotions/{job.id}", status_code=303)


def ui_promotion_job(request: Request, name: str, version: str, job_id: str) -> Response:
    """A promotion of the user's while and after its gates run (``?part=gates``: the gate table,
    polled until the promotion is decided)."""
    caller = ui_caller(request, "model_promotions")
    job = jobs_of(request.app).get(job_id, owner=caller.user)
    if job.kind != "promotion" or job.subject != f"{name}/{version}":
        raise NotFound(f"no promotion job {job_id[:40]!r} of {name}/{version[:20]}", field="job")
    caller.require(job.project)
    snapshot = job.snapshot()
    context = {"job": snapshot, "name": name, "version": version, "alias": job.notes.get("alias", "")}
    if request.headers.get("hx-request") == "true" and request.query_params.get("part") == "gates":
        return render(request, "promotion_job_gates.html", status=286 if job.finished else 200, **context)
    return render(request, "promotion_job.html", **context)


# -- deployment -----------------------------------------------------------------------------------
def _deployment_spec(caller: Caller, endpoint: str, target: str, weight: float) -> dict[str, Any]:
    """The endpoint's next spec: ``target`` takes all the traffic (its other settings kept), or
    ``weight`` percent beside its current routes, scaled to share the rest (a canary)."""
    try:
        current: dict[str, Any] | None = deployments.get_deployment(endpoint, caller).model_dump()
    except NotFound:
        current = None
    kept = {k: current[k] for k in ("shadows", "sticky_header", "batching") if current and current.get(k)}
    if weight >= 100:
        return {"endpoint": endpoint, "routes": [{"model": target, "weight": 100}], **kept}
    others = [r for r in (current or {}).get("routes") or [] if r["model"] != target]
    if not others:
        raise InvalidInput(
            f"a canary of {weight:g}% needs endpoint {endpoint!r} to serve another model already; "
            "deploy at 100% first",
            field="weight",
        )
    total = sum(float(r["weight"]) for r in others)
    routes = [
        {"model": r["model"], "weight": round(float(r["weight"]) * (100 - weight) / total, 6)} for r in others
    ]
    return {"endpoint": endpoint, "routes": [*routes, {"model": target, "weight": weight}], **kept}


def _deploy(request: Request, caller: Caller, name: str, number: int, form: dict[str, Any]) -> str:
    caller.require(None)  # set_deployment's role, on every project (an endpoint may serve any model)
    mv = registry.get_model_version(name, str(number), ui_caller(request, "get_model_version"))
    endpoint = check_endpoint(_field(form, "endpoint", name, 128))
    choices = [f"{name}@{a}" for a in mv.aliases] + [f"{name}/{number}"]
    target = _field(form, "target", choices[0], 300)
    if target not in choices:
        raise InvalidInput(
            f"route the endpoint to one of {', '.join(choices)}, not {target[:100]!r}", field="target"
        )
    text = _field(form, "weight", "100", 20)
    try:
        weight = float(text)
    except ValueError:
        raise InvalidInput(
            f"weight must be a percentage from 1 to 100, got {text!r}", field="weight"
        ) from None
    if not 1 <= weight <= 100:
        raise InvalidInput(f"weight must be a percentage from 1 to 100, got {text!r}", field="weight")
    spec = _deployment_spec(caller, endpoint, target, weight)
    return deployments.set_deployment(endpoint, spec, caller).endpoint


async def ui_deploy(request: Request, name: str, version: str) -> Response:
    """Route an endpoint to this version or one of its aliases (all the traffic, or a canary's
    share); on to the endpoint's page."""
    form = await check_csrf(request)
    number = _version_number(version)
    caller = ui_caller(request, "set_deployment")
    endpoint = await run_in_threadpool(_deploy, request, caller, name, number, form)
    return RedirectResponse(f"/deployments/{quote(endpoint, safe='')}", status_code=303)
