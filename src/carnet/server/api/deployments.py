"""Release routes: deployments of endpoints (routing to model versions) and promotion policies.

Deployments are not per project (an endpoint may route to models of several projects): reading them
needs ``viewer`` on every project (``*``), changing them ``admin`` there. A policy needs the role on
its model's project, or on the project it is the default of.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import Body, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from carnet.documents import check_expansion
from carnet.errors import InvalidInput, NotFound
from carnet.schemas import ABAnalysisOut, DeploymentOut, PolicyOut, ResolvedDeploymentOut
from carnet.server.api.auth import Caller, caller

__all__ = [
    "ab_analysis",
    "delete_deployment",
    "deployment_history",
    "get_deployment",
    "get_model_policy",
    "get_project_policy",
    "list_deployments",
    "resolve_deployment",
    "set_deployment",
    "set_model_policy",
    "set_project_policy",
]


# -- deployments ------------------------------------------------------------------------------------
def list_deployments(c: Caller = Depends(caller)) -> list[DeploymentOut]:
    """The current revision of every deployed endpoint, by name (deleted ones left out)."""
    c.require(None)
    return [DeploymentOut.of(d) for d in c.services.deployments.list()]


def get_deployment(endpoint: str, c: Caller = Depends(caller)) -> DeploymentOut:
    """The current revision of an endpoint (404 when never deployed, or deleted)."""
    c.require(None)
    return DeploymentOut.of(c.services.deployments.get(endpoint))


def set_deployment(
    endpoint: str,
    spec: dict[str, Any] = Body(..., description="the deployment spec: {endpoint, routes, shadows, ...}"),
    c: Caller = Depends(caller),
) -> DeploymentOut:
    """Store the spec as the endpoint's next revision (unchanged when equal to the current one).

    ``endpoint`` in the body may be left out; when given it must be the one in the path. Every model
    reference must resolve now (404 naming the entry, e.g. ``routes[1].model``).
    """
    c.require(None)
    named = spec.get("endpoint", endpoint)
    if named != endpoint:
        raise InvalidInput(
            f"the body deploys endpoint {named!r} but the path names {endpoint!r}; make them agree",
            field="endpoint",
        )
    return DeploymentOut.of(c.services.deployments.set({**spec, "endpoint": endpoint}))


def deployment_history(endpoint: str, c: Caller = Depends(caller)) -> list[DeploymentOut]:
    """Every revision of an endpoint, oldest first, deletions included."""
    c.require(None)
    return [DeploymentOut.of(d) for d in c.services.deployments.history(endpoint)]


def resolve_deployment(endpoint: str, c: Caller = Depends(caller)) -> ResolvedDeploymentOut:
    """The current revision with every reference resolved to the version it names now (404 naming
    the entry, e.g. ``shadows[0]``, when one no longer resolves)."""
    c.require(None)
    return ResolvedDeploymentOut.of(c.services.deployments.resolve(endpoint))


def delete_deployment(
    endpoint: str, reason: str = Query("", description="why (recorded)"), c: Caller = Depends(caller)
) -> DeploymentOut:
    """Stop routing an endpoint: stores a deletion revision (audited with the reason) and returns it."""
    c.require(None)
    return DeploymentOut.of(c.services.deployments.delete(endpoint, reason=reason))


def ab_analysis(
    endpoint: str,
    metric: str | None = Query(
        None, description="a per-row metric: accuracy, error_rate, log_loss, brier, mae, mse"
    ),
    alpha: float = Query(0.05, description="the false-positive rate kept however often the result is read"),
    mde: float | None = Query(None, description="the smallest difference worth acting on"),
    since: str | None = Query(None, description="rows from: all, a duration back (7d), or a time"),
    power: float = Query(0.8, description="the power of the sample sizes"),
    c: Caller = Depends(caller),
) -> ABAnalysisOut:
    """The A/B analysis of an endpoint's routes: each arm's realized metric, the always-valid (mSPRT)
    difference control - challenger, the sample size still needed and a decision; label-free
    estimates and prediction differences marked ``estimated``. Reads only."""
    c.require(None)
    found = c.services.ab_analysis.analyse(
        endpoint, metric=metric, alpha=alpha, mde=mde, since=since, power=power
    )
    return ABAnalysisOut.model_validate(found)


# -- policies ---------------------------------------------------------------------------------------
async def _policy_body(request: Request) -> dict[str, Any]:
    """The request body as a policy mapping: JSON when so declared, else YAML text (never a path)."""
    import yaml  # type: ignore[import-untyped, unused-ignore]

    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the policy must be UTF-8 YAML text or a JSON object", field="body") from None
    json_body = "json" in request.headers.get("content-type", "")
    try:
        data = json.loads(text) if json_body else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError, RecursionError) as exc:  # RecursionError: nested too deep
        kind = "JSON" if json_body else "YAML"
        raise InvalidInput(
            f"the policy is not valid {kind}: {str(exc).splitlines()[0]}", field="body"
        ) from None
    if not isinstance(data, Mapping):
        raise InvalidInput(
            "the policy must be a mapping (name, aliases, gates, ...), as YAML text or a JSON object",
            field="body",
        )
    return dict(check_expansion(data, "body"))


def _policy_out(subject: str, name: str, policy: Any) -> PolicyOut:
    from carnet.domain.policies import policy_to_dict

    if policy is None:
        where = f"model {name!r} nor its project" if subject == "model" else f"project {name!r}"
        raise NotFound(
            f"{where} has no promotion policy; set one with PUT /api/v1/{subject}s/{name}/policy",
            field="policy",
        )
    return PolicyOut(subject=subject, name=name, policy=policy_to_dict(policy))


def get_model_policy(name: str, c: Caller = Depends(caller)) -> PolicyOut:
    """The policy in force for a model: its own, else its project's default (404 when neither)."""
    c.require_model(name)
    return _policy_out("model", name, c.services.promotion.policy_for(name))


async def set_model_policy(name: str, request: Request, c: Caller = Depends(caller)) -> PolicyOut:
    """Validate and store a model's own policy (YAML text, or a JSON object); audited."""
    await run_in_threadpool(c.require_model, name)
    return await _store_policy(request, c, "model", name)


def get_project_policy(project: str, c: Caller = Depends(caller)) -> PolicyOut:
    """A project's default policy (404 when it has none)."""
    c.require(project)
    return _policy_out("project", project, c.services.promotion.project_policy(project))


async def set_project_policy(project: str, request: Request, c: Caller = Depends(caller)) -> PolicyOut:
    """Validate and store a project's default policy (YAML text, or a JSON object); audited."""
    await run_in_threadpool(c.require, project)
    return await _store_policy(request, c, "project", project)


async def _store_policy(request: Request, c: Caller, subject: str, name: str) -> PolicyOut:
    """Validate and store the request's policy as the ``subject`` (model or project) ``name``'s,
    once the caller may read its evaluation data."""
    data = await _policy_body(request)
    await run_in_threadpool(c.require_policy_data, data)
    policy = await run_in_threadpool(lambda: c.services.promotion.set_policy(data, **{subject: name}))
    return _policy_out(subject, name, policy)
