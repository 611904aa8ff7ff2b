"""Who calls, and what they may do: the bearer-token dependency and the route -> role lookup.

Every operation of the API names the role it needs in the operation table
(:data:`carnet.operations.OPERATIONS`; :data:`ROUTE_ROLES` is its route -> role view). A handler
says which project the request touches with ``caller.require(project)``; the role comes from the
table. Reads need ``viewer`` on the project of the run, dataset or model,
writes ``editor``, approvals ``approver``, alias moves, promotions and rollbacks ``admin``. Routes
without a project (the audit ledger) need the role on every project (``*``). A change that names
an object of another project (a dataset version, a run) also needs ``viewer`` there:
:meth:`Caller.require_refs` is that one check.

With authentication on, each request gets services whose actor is the authenticated user, so every
audit event its changes write records who made them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from fastapi import Request

from carnet.config import ServerPolicy, server_policy
from carnet.domain.auth import Principal
from carnet.domain.datasets import DatasetVersion
from carnet.domain.models import ModelRef
from carnet.errors import InvalidInput, PermissionDenied, Unauthenticated
from carnet.operations import OPERATIONS, PUBLIC
from carnet.services import Services

__all__ = ["PUBLIC", "ROUTE_ROLES", "ApiState", "Caller", "bearer_token", "caller"]

#: route name -> role the caller needs (on the project the request touches), from the operation
#: table; the OpenAPI document is public
ROUTE_ROLES: dict[str, str] = {"openapi": PUBLIC, **{op.name: op.role for op in OPERATIONS}}

_RUN_CACHE_SIZE = 10_000


class ApiState:
    """What the routes share: the workspace's services, the auth switch and the request limits."""

    def __init__(
        self,
        services: Services,
        *,
        require_auth: bool,
        max_body_bytes: int,
        max_json_bytes: int,
        policy: ServerPolicy | None = None,
    ) -> None:
        if require_auth and getattr(services, "auth", None) is None:
            raise InvalidInput(
                "authentication is required but this carnet has no authentication service; "
                "listen on 127.0.0.1 without authentication, or upgrade carnet",
                field="require_auth",
            )
        if services is not None:  # callers of the API are not the machine's user: the server's policy
            ctx = services.ctx
            policy = policy or ctx.settings.server or server_policy()
            services = Services(replace(ctx, settings=replace(ctx.settings, server=policy)))
        self.services = services
        self.require_auth = require_auth
        self.max_body_bytes = max_body_bytes
        self.max_json_bytes = max_json_bytes
        self._run_projects: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def auth(self) -> Any:
        """The workspace's authentication service (``authenticate``, ``require``), or None."""
        return getattr(self.services, "auth", None)

    def services_for(self, principal: Principal) -> Services:
        """Services acting as ``principal``: their audit events record the user."""
        ctx = self.services.ctx
        changes: dict[str, Any] = {"settings": replace(ctx.settings, actor=principal.user)}
        if any(f.name == "principal" for f in fields(ctx)):
            changes["principal"] = principal
        return Services(replace(ctx, **changes))

    def run_project(self, run_id: str) -> str:
        """The project of a run (remembered: a run never changes project); NotFound when unknown."""
        with self._lock:
            project = self._run_projects.get(run_id)
            if project is not None:
                self._run_projects.move_to_end(run_id)
                return project
        project = self.services.tracking.get_run(run_id).project
        with self._lock:
            self._run_projects[run_id] = project
            while len(self._run_projects) > _RUN_CACHE_SIZE:
                self._run_projects.popitem(last=False)
        return project


@dataclass
class Caller:
    """The caller of one request: their services, who they are, and the role the route needs."""

    services: Services
    principal: Principal | None
    role: str
    state: ApiState

    @property
    def user(self) -> str:
        """The name recorded as actor."""
        return self.services.ctx.settings.actor

    def require(self, project: str | None, role: str | None = None) -> None:
        """Raise PermissionDenied unless the caller holds the route's role (or ``role``) on ``project``.

        ``project`` None means every project (``*``). Without authentication, everything is allowed.
        """
        if self.principal is None:
            return
        self.state.auth.require(self.principal, project, role or self.role)

    def can(self, project: str | None, role: str | None = None) -> bool:
        """Whether :meth:`require` would pass (to filter lists)."""
        try:
            self.require(project, role)
        except PermissionDenied:
            return False
        return True

    def require_read(self, *projects: str) -> None:
        """Raise PermissionDenied unless the caller may read every project of ``projects``.

        For a change in one project that names objects of others (a dataset read by a run, the
        reference of a monitor): the caller needs the route's role where the change happens and
        at least ``viewer`` where each referenced object lives.
        """
        for project in dict.fromkeys(projects):
            self.require(project, "viewer")

    def require_refs(self, *, datasets: Iterable[str | None] = (), runs: Iterable[str | None] = ()) -> None:
        """THE cross-project check: read access to the project of every object a change names.

        ``datasets`` are references such as ``churn@3`` (or ``churn``: the latest), ``runs`` run
        ids; ``None`` entries are skipped. Called before anything is written, after the route's own
        role check on the project being changed. An object that does not exist is NotFound (404)
        as on every route; one in a project the caller may not read is PermissionDenied (403)
        naming that project, the answer a direct read of the object gives. Without authentication
        it does nothing (the services report unknown objects themselves).
        """
        if self.principal is None:
            return
        projects = [self.services.datasets.get(ref).project for ref in datasets if ref is not None]
        projects += [self.state.run_project(run) for run in runs if run is not None]
        self.require_read(*projects)

    def require_policy_data(self, policy: Any) -> None:
        """Read access to the project of the dataset a policy's gates evaluate on (when it names one)."""
        if self.principal is None or policy is None:
            return
        from carnet.gates.policy import load_policy

        self.require_refs(datasets=[load_policy(policy).evaluation_data or None])

    def require_run(self, run_id: str) -> str:
        """Check the route's role on the run's project; returns that project."""
        if self.principal is None:
            return ""
        project = self.state.run_project(run_id)
        self.require(project)
        return project

    def require_dataset(self, ref: str, role: str | None = None) -> DatasetVersion:
        """The dataset version ``ref`` names (``name@N``; ``name``: the latest), once the caller holds
        the route's role (or ``role``) on its project (NotFound: no such version)."""
        version = self.services.datasets.get(ref)
        self.require(version.project, role)
        return version

    def require_model(self, name: str) -> str:
        """Check the route's role on the project of the registered model ``name``; returns that
        project (NotFound: no such model)."""
        project = self.services.registry.get_model(name).project
        self.require(project)
        return project

    def model_project(self, ref: str) -> str:
        """The project of the registered model a reference names (``NAME``, ``NAME/3``,
        ``NAME@alias``); NotFound when there is none."""
        return self.services.registry.get_model(ModelRef.parse(ref).name).project


def _bearer(request: Request) -> str:
    return bearer_token(request.headers.get("authorization"))


def bearer_token(header: str | None, hint: str = "") -> str:
    """The token of an ``Authorization: Bearer <token>`` header; Unauthenticated otherwise
    (``hint`` is added to the message of a missing header)."""
    if not header:
        raise Unauthenticated(
            f"this server requires an API token: send the header 'Authorization: Bearer <token>'{hint}",
            field="authorization",
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'", field="authorization")
    return token.strip()


def caller(request: Request) -> Caller:
    """FastAPI dependency: authenticate the request (when required) and give the route's role.

    Raises:
        Unauthenticated: authentication is on and the token is missing, malformed or not valid.
        PermissionDenied: the route has no entry in :data:`ROUTE_ROLES` (fails closed).
    """
    state: ApiState = request.app.state.carnet
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    role = ROUTE_ROLES.get(str(name))
    if role is None:
        raise PermissionDenied(f"route {name!r} declares no role; it is refused", field="route")
    if not state.require_auth or role == PUBLIC:
        return Caller(state.services, None, role, state)
    principal = state.auth.authenticate(_bearer(request))
    if not isinstance(principal, Principal):
        raise Unauthenticated("the token is not valid", field="authorization")
    return Caller(state.services_for(principal), principal, role, state)
