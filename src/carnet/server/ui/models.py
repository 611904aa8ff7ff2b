"""UI pages of the model registry: models, versions, the card, promotion (dry run included), the
approvals queue, approving."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from carnet.errors import GateFailed, InvalidInput
from carnet.schemas import ApprovalIn, PromoteIn, PromotionOut
from carnet.server.api import models as model_routes
from carnet.server.api import registry
from carnet.server.ui.app import render
from carnet.server.ui.session import REPORT_CSP, check_csrf, ui_caller

__all__ = [
    "ui_approvals",
    "ui_approve",
    "ui_card",
    "ui_dossier",
    "ui_model",
    "ui_models",
    "ui_promote",
    "ui_version",
]


def ui_models(request: Request) -> Response:
    """Registered models the user may read, with their aliases and latest version."""
    project = request.query_params.get("project") or None
    found = registry.list_models(project=project, c=ui_caller(request, "list_models"))
    return render(request, "models.html", models=found, project=project or "")


def ui_model(request: Request, name: str) -> Response:
    """A model's versions, aliases and the history of its promotions and rollbacks."""
    model = registry.get_model(name, ui_caller(request, "get_model"))
    versions = registry.model_versions(name, ui_caller(request, "model_versions"))
    history = model_routes.model_promotions(name, version=None, c=ui_caller(request, "model_promotions"))
    # the moves of its aliases (set, promoted, rolled back, removed): read once the role is checked above
    moves = ui_caller(request, "model_versions").services.registry.alias_history(name)
    return render(
        request,
        "model.html",
        model=model,
        versions=sorted(versions, key=lambda v: -v.version),
        history=list(reversed(history)),
        moves=list(reversed(moves)),
    )


def ui_version(request: Request, name: str, version: str) -> Response:
    """One version: signature, metrics, lineage, aliases, its promotions; the promote and approve
    forms for the roles that may use them."""
    mv = registry.get_model_version(name, version, ui_caller(request, "get_model_version"))
    history = model_routes.model_promotions(
        name, version=mv.version, c=ui_caller(request, "model_promotions")
    )
    project = registry.get_model(name, ui_caller(request, "get_model")).project  # type: ignore[union-attr]
    return render(
        request,
        "version.html",
        mv=mv,
        history=list(reversed(history)),
        may_promote=_may(request, "promote_model", project),
        may_request=_may(request, "request_promotion", project),
        may_approve=_may(request, "approve_model_version", project),
        result=None,
    )


def _may(request: Request, operation: str, project: str) -> bool:
    """Whether the user holds the role ``operation`` needs on ``project`` (to show its button)."""
    return ui_caller(request, operation).can(project)


def _version_number(version: str) -> int:
    if not version.isdigit() or not 1 <= int(version) < 2**63:
        raise InvalidInput(f"version must be a whole number >= 1, got {version[:40]!r}", field="version")
    return int(version)


async def ui_promote(request: Request, name: str, version: str) -> Response:
    """Run the promotion (or its dry run) and show every gate's result."""
    form = await check_csrf(request)
    number = _version_number(version)
    alias = str(form.get("alias") or "production").strip()
    dry_run = str(form.get("dry_run") or "") in ("1", "on", "true")
    caller = ui_caller(request, "promote_model")
    body = PromoteIn(version=number, alias=alias, dry_run=dry_run)
    try:
        result = await run_in_threadpool(registry.promote_model, name, body, caller)
        refused = False
    except GateFailed as exc:
        if exc.promotion is None:
            raise
        result, refused = PromotionOut.of(exc.promotion), True
    return render(request, "promotion.html", result=result, refused=refused, dry_run=dry_run, name=name)


async def ui_approve(request: Request, name: str, version: str) -> Response:
    """Record the user's approval of a version for an alias; back to where the form was."""
    form = await check_csrf(request)
    number = _version_number(version)
    body = ApprovalIn(
        alias=str(form.get("alias") or "production").strip(), comment=str(form.get("comment") or "")
    )
    caller = ui_caller(request, "approve_model_version")
    await run_in_threadpool(registry.approve_model_version, name, number, body, caller)
    back = "/approvals" if form.get("back") == "approvals" else f"/models/{quote(name, safe='')}/{number}"
    return RedirectResponse(back, status_code=303)


def ui_approvals(request: Request) -> Response:
    """The approvals queue: promotions refused only for want of approvals, with their gates, an
    approve form for approvers and a promote button for admins."""
    found = registry.list_models(project=None, c=ui_caller(request, "list_models"))  # readable ones
    promotion = ui_caller(request, "model_promotions").services.promotion
    queue = [
        {
            "promotion": PromotionOut.of(p),
            "project": model.project,
            "may_approve": _may(request, "approve_model_version", model.project),
            "may_promote": _may(request, "promote_model", model.project),
        }
        for model in found
        for p in promotion.awaiting_approval(model.name)
    ]
    return render(request, "approvals.html", queue=queue)


def ui_card(request: Request, name: str, version: str) -> Response:
    """The model card as a page of its own (shown in a sandboxed frame: no script, no network)."""
    response = model_routes.model_card(name, version, format="html", c=ui_caller(request, "model_card"))
    response.headers["content-security-policy"] = REPORT_CSP
    return response


def ui_dossier(request: Request, name: str, version: str) -> Response:
    """The auditor's dossier (a zip) of a version."""
    return model_routes.model_dossier(name, version, ui_caller(request, "model_dossier"))
