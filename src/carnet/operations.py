"""THE table of the REST API: every operation once, with its method, path, role, body and answer.

The server builds its routes from :data:`OPERATIONS` (the handler of ``name`` is the function of
that name in ``carnet.server.api.<area>``; roles and upload limits come from here too), and the
remote SDK client sends every request through :func:`call`, so a path or a method is written
nowhere else. Models are named, not imported: this module is read by the SDK without pydantic.

Field values:

- ``role``: what the caller needs on the project the request touches: ``public`` (no token),
  ``viewer``, ``editor``, ``approver``, ``admin`` (see :mod:`carnet.server.api.auth`).
- ``body``: a request model of :mod:`carnet.schemas` (``Name?`` when it may be left out),
  ``object`` (a free JSON object), ``form`` (multipart with files), ``binary`` (raw bytes),
  ``binary|csv`` (raw bytes or CSV text), ``policy`` (a policy as JSON or YAML text), or None.
- ``out``: the answer's model (``Name``, ``list[Name]``, ``A | B``, ``dict``) when ``returns`` is
  ``json``; other answers are ``file`` (verified bytes), ``stream`` (NDJSON training events),
  ``empty`` (204), ``card`` (Markdown, HTML or JSON) and ``zip``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import NamedTuple
from urllib.parse import quote

__all__ = ["API_PREFIX", "OPERATIONS", "PUBLIC", "Call", "Operation", "call", "operation"]

#: where the REST API lives on a carnet server
API_PREFIX = "/api/v1"
#: the pseudo-role of operations anyone may call, without a token
PUBLIC = "public"

_PLACEHOLDER = re.compile(r"\{(\w+)(:path)?\}")
#: request bodies that are streamed files: they get the server's upload limit, not the JSON one
_UPLOADS = frozenset({"form", "binary", "binary|csv"})


class Call(NamedTuple):
    """One request to send: the method and the path under :data:`API_PREFIX`."""

    method: str
    path: str


@dataclass(frozen=True)
class Operation:
    """One operation of the REST API (see the module's docstring for the field values)."""

    name: str
    route: str
    role: str
    out: str | None = None
    body: str | None = None
    status: int = 200
    returns: str = "json"
    #: answers 201 when it stores something new, 200 when it was already there
    creates: bool = False
    area: str = ""
    tags: tuple[str, ...] = ()
    #: under :data:`API_PREFIX` (False: at the server's root)
    api: bool = True

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.route.split(" ", 1)[1]

    @property
    def upload(self) -> bool:
        """Whether the body is a streamed file."""
        return self.body in _UPLOADS

    def url(self, /, **params: object) -> str:
        """The path with ``params`` filled in, percent-encoded (``{x:path}`` keeps its slashes).

        Raises:
            KeyError: a placeholder has no value, or a value names no placeholder.
        """
        names = {m.group(1) for m in _PLACEHOLDER.finditer(self.path)}
        if set(params) != names:
            raise KeyError(f"{self.name} takes {sorted(names)}, got {sorted(params)}")

        def fill(m: re.Match[str]) -> str:
            return quote(str(params[m.group(1)]), safe="/" if m.group(2) else "")

        return _PLACEHOLDER.sub(fill, self.path)


def _area(area: str, tag: str, *ops: Operation) -> tuple[Operation, ...]:
    return tuple(replace(op, area=area, tags=op.tags or (tag,)) for op in ops)


_O = Operation
_DEPLOY, _POLICY, _DRIFT = ("deployments",), ("policies",), ("monitoring", "drift")

#: THE table, in the order routes are matched (``GET /models/{ref:path}`` takes what is left)
OPERATIONS: tuple[Operation, ...] = (
    *_area("health", "service", _O("healthz", "GET /healthz", PUBLIC, out="Health", api=False)),
    *_area(
        "tracking",
        "tracking",
        _O("list_projects", "GET /projects", "viewer", out="list[ProjectOut]"),
        _O("create_project", "POST /projects", "editor", out="ProjectOut", body="ProjectIn", status=201),
        _O("create_run", "POST /runs", "editor", out="RunOut", body="RunCreate", status=201),
        _O("search_runs", "POST /runs/search", "viewer", out="RunPageOut", body="RunSearch"),
        _O("get_run", "GET /runs/{run_id}", "viewer", out="RunOut"),
        _O("update_run", "PATCH /runs/{run_id}", "editor", out="RunOut", body="RunPatch"),
        _O("log_params", "POST /runs/{run_id}/params", "editor", out="LoggedOut", body="ParamsIn"),
        _O("log_metrics", "POST /runs/{run_id}/metrics", "editor", out="LoggedOut", body="MetricsBatchIn"),
        _O("metric_history", "GET /runs/{run_id}/metrics/{key:path}", "viewer", out="list[MetricOut]"),
        _O("set_tags", "POST /runs/{run_id}/tags", "editor", out="LoggedOut", body="TagsIn"),
        _O("delete_tag", "DELETE /runs/{run_id}/tags/{key:path}", "editor", status=204, returns="empty"),
        _O("log_inputs", "POST /runs/{run_id}/inputs", "editor", out="list[RunInputOut]", body="InputsIn"),
        _O("list_inputs", "GET /runs/{run_id}/inputs", "viewer", out="list[RunInputOut]"),
        _O("lineage", "GET /lineage", "viewer", out="dict"),
        _O("list_artifacts", "GET /runs/{run_id}/artifacts", "viewer", out="list[ArtifactOut]"),
        _O(
            "upload_artifact",
            "PUT /runs/{run_id}/artifacts/{path:path}",
            "editor",
            out="ArtifactOut",
            body="binary",
            status=201,
        ),
        _O(
            "upload_artifacts",
            "POST /runs/{run_id}/artifacts",
            "editor",
            out="list[ArtifactOut]",
            body="form",
            status=201,
        ),
        _O("download_artifact", "GET /runs/{run_id}/artifacts/{path:path}", "viewer", returns="file"),
        _O("ci_report", "GET /runs/{run_id}/ci-report", "viewer", out="dict", tags=("ci",)),
    ),
    *_area(
        "datasets",
        "datasets",
        _O("list_datasets", "GET /datasets", "viewer", out="list[DatasetVersionOut]"),
        _O("dataset_versions", "GET /datasets/{name}/versions", "viewer", out="list[DatasetVersionOut]"),
        _O("get_dataset", "GET /datasets/{ref}", "viewer", out="DatasetVersionOut"),
        _O(
            "upload_dataset",
            "POST /datasets/{name}",
            "editor",
            out="DatasetVersionOut",
            body="binary|csv",
            creates=True,
        ),
        _O("download_dataset", "GET /datasets/{ref}/file", "viewer", returns="file"),
        _O("scan_dataset", "POST /datasets/{ref}/scan", "editor", out="dict", body="DatasetScanIn"),
        _O("dataset_risk", "POST /datasets/{ref}/risk", "viewer", out="dict", body="DatasetRiskIn"),
        _O(
            "deidentify_dataset",
            "POST /datasets/{ref}/deidentify",
            "editor",
            out="DatasetVersionOut",
            body="DatasetDeidentifyIn",
            creates=True,
        ),
        _O("erase_dataset", "POST /datasets/{name}/erasures", "admin", out="dict", body="DatasetEraseIn"),
        _O("purge_dataset", "POST /datasets/{name}/purge", "admin", out="dict", body="DatasetPurgeIn"),
        _O("dataset_erasures", "GET /datasets/{name}/erasures", "viewer", out="list[dict]"),
        _O("dataset_usage", "GET /storage/usage", "viewer", out="dict"),
        _O("collect_garbage", "POST /storage/gc", "admin", out="dict", body="StorageGcIn"),
        _O("chunk_datasets", "POST /storage/chunk", "admin", out="dict", body="StorageChunkIn"),
    ),
    *_area(
        "deployments",
        "deployments",
        _O("list_deployments", "GET /deployments", "viewer", out="list[DeploymentOut]"),
        _O("get_deployment", "GET /deployments/{endpoint}", "viewer", out="DeploymentOut"),
        _O("set_deployment", "PUT /deployments/{endpoint}", "admin", out="DeploymentOut", body="object"),
        _O("deployment_history", "GET /deployments/{endpoint}/history", "viewer", out="list[DeploymentOut]"),
        _O(
            "resolve_deployment",
            "GET /deployments/{endpoint}/resolved",
            "viewer",
            out="ResolvedDeploymentOut",
        ),
        _O("delete_deployment", "DELETE /deployments/{endpoint}", "admin", out="DeploymentOut"),
        _O("ab_analysis", "GET /deployments/{endpoint}/ab", "viewer", out="ABAnalysisOut"),
        _O("get_model_policy", "GET /models/{name}/policy", "viewer", out="PolicyOut", tags=_POLICY),
        _O(
            "set_model_policy",
            "PUT /models/{name}/policy",
            "admin",
            out="PolicyOut",
            body="policy",
            tags=_POLICY,
        ),
        _O("get_project_policy", "GET /projects/{project}/policy", "viewer", out="PolicyOut", tags=_POLICY),
        _O(
            "set_project_policy",
            "PUT /projects/{project}/policy",
            "admin",
            out="PolicyOut",
            body="policy",
            tags=_POLICY,
        ),
    ),
    *_area(
        "monitoring",
        "monitoring",
        _O("list_monitors", "GET /monitors", "viewer", out="list[MonitorStateOut]"),
        _O("create_monitor", "POST /monitors", "editor", out="MonitorStateOut", body="object", status=201),
        _O("get_monitor", "GET /monitors/{name}", "viewer", out="MonitorStateOut"),
        _O("run_monitor", "POST /monitors/{name}/run", "editor", out="PassDetailOut", body="MonitorRunIn?"),
        _O("monitor_windows", "GET /monitors/{name}/windows", "viewer", out="list[WindowOut]"),
        _O("monitor_window_report", "GET /monitors/{name}/windows/{seq}/report", "viewer", out="dict"),
        _O("monitor_rollup", "GET /monitors/{name}/rollup", "viewer", out="list[RollupOut]"),
        _O("delete_monitor", "DELETE /monitors/{name}", "editor", status=204, returns="empty"),
        _O("list_alerts", "GET /alerts", "viewer", out="list[AlertOut]"),
        _O(
            "acknowledge_alert",
            "POST /alerts/{alert_id}/acknowledge",
            "approver",
            out="AlertOut",
            body="AlertNoteIn?",
        ),
        _O(
            "resolve_alert",
            "POST /alerts/{alert_id}/resolve",
            "approver",
            out="AlertOut",
            body="AlertNoteIn?",
        ),
        _O("detect_drift", "POST /drift", "viewer", out="DriftReportOut", body="DriftIn", tags=_DRIFT),
        _O(
            "detect_drift_files",
            "POST /drift/files",
            "viewer",
            out="DriftReportOut",
            body="form",
            tags=_DRIFT,
        ),
        _O("upload_labels", "POST /labels", "editor", out="LabelFileOut", body="binary|csv", status=201),
    ),
    *_area(
        "models",
        "registry",
        _O(
            "log_model_object",
            "POST /models/{name}/objects",
            "editor",
            out="ModelVersionOut",
            body="form",
            status=201,
        ),
        _O("download_model_file", "GET /models/{name}/versions/{version}/file", "viewer", returns="file"),
        _O("export_model_onnx", "GET /models/{name}/versions/{version}/onnx", "viewer", returns="file"),
        _O(
            "register_model_onnx",
            "POST /models/{name}/versions/{version}/onnx",
            "editor",
            out="ModelVersionOut",
            status=201,
        ),
        _O(
            "set_model_tags",
            "PUT /models/{name}/tags",
            "editor",
            body="ModelTagsIn",
            status=204,
            returns="empty",
        ),
        _O(
            "delete_model_tag", "DELETE /models/{name}/tags/{key:path}", "editor", status=204, returns="empty"
        ),
        _O("model_promotions", "GET /models/{name}/promotions", "viewer", out="list[PromotionOut]"),
        _O("model_card", "GET /models/{name}/versions/{version}/card", "viewer", returns="card"),
        _O("model_dossier", "GET /models/{name}/versions/{version}/dossier", "viewer", returns="zip"),
        _O(
            "model_dossier_with_mappings",
            "POST /models/{name}/versions/{version}/dossier",
            "viewer",
            body="ComplianceIn",
            returns="zip",
        ),
        _O(
            "model_compliance",
            "POST /models/{name}/versions/{version}/compliance",
            "viewer",
            out="dict",
            body="ComplianceIn?",
        ),
    ),
    *_area(
        "registry",
        "registry",
        _O("list_models", "GET /models", "viewer", out="list[ModelOut]"),
        _O("model_versions", "GET /models/{name}/versions", "viewer", out="list[ModelVersionOut]"),
        _O("get_model_version", "GET /models/{name}/versions/{version}", "viewer", out="ModelVersionOut"),
        _O(
            "register_model_version",
            "POST /models/{name}/versions",
            "editor",
            out="ModelVersionOut",
            body="RegisterIn",
            status=201,
        ),
        _O(
            "approve_model_version",
            "POST /models/{name}/versions/{version}/approvals",
            "approver",
            out="ApprovalOut",
            body="ApprovalIn",
            status=201,
        ),
        _O("set_model_alias", "PUT /models/{name}/aliases/{alias}", "admin", out="AliasOut", body="AliasIn"),
        _O("delete_model_alias", "DELETE /models/{name}/aliases/{alias}", "admin", out="AliasOut"),
        _O("promote_model", "POST /models/{name}/promote", "admin", out="PromotionOut", body="PromoteIn"),
        _O(
            "check_promotion",
            "POST /models/{name}/promotion-checks",
            "editor",
            out="PromotionOut",
            body="PromotionRequestIn",
        ),
        _O(
            "request_promotion",
            "POST /models/{name}/promotion-requests",
            "editor",
            out="PromotionOut",
            body="PromotionRequestIn",
            status=201,
        ),
        _O("rollback_model", "POST /models/{name}/rollback", "admin", out="PromotionOut", body="RollbackIn"),
        _O("get_model", "GET /models/{ref:path}", "viewer", out="ModelOut | ModelVersionOut"),
    ),
    *_area(
        "encoders",
        "encoders",
        _O("add_encoder", "POST /encoders", "editor", out="ModelVersionOut", body="EncoderIn", status=201),
        _O("list_encoders", "GET /encoders", "viewer", out="list[ModelVersionOut]"),
        _O("get_encoder", "GET /encoders/{ref:path}", "viewer", out="ModelVersionOut"),
        _O("embed", "POST /embed", "viewer", body="EmbedIn", returns="file"),
    ),
    *_area(
        "training",
        "training",
        _O("train", "POST /train", "editor", body="TrainIn", returns="stream"),
        _O("automl", "POST /automl", "editor", body="AutoMLIn", returns="stream"),
        _O("evaluate_run", "POST /runs/{run_id}/evaluate", "editor", body="EvaluateIn", returns="stream"),
        _O("explain", "POST /explain", "editor", out="dict", body="ExplainIn"),
        _O("stress", "POST /stress", "viewer", out="dict", body="StressIn"),
        _O("predict_batch", "POST /batch-predictions", "editor", out="dict", body="PredictBatchIn"),
        _O("reproduce_run", "POST /runs/{run_id}/reproduce", "editor", body="ReproduceIn", returns="stream"),
        _O("derive_model", "POST /derive", "editor", body="DeriveIn", returns="stream"),
    ),
    *_area(
        "audit",
        "audit",
        _O("audit_events", "GET /audit/events", "viewer", out="list[AuditEventOut]"),
        _O("audit_verify", "GET /audit/verify", "viewer", out="VerificationOut"),
    ),
    *_area(
        "admin",
        "admin",
        _O("list_users", "GET /users", "admin", out="list[UserOut]"),
        _O("create_user", "POST /users", "admin", out="UserOut", body="UserIn", status=201),
        _O("disable_user", "POST /users/{name}/disable", "admin", out="UserOut"),
        _O("enable_user", "POST /users/{name}/enable", "admin", out="UserOut"),
        _O("grant_role", "PUT /users/{name}/roles/{project}", "admin", out="UserOut", body="RoleIn"),
        _O("revoke_role", "DELETE /users/{name}/roles/{project}", "admin", out="UserOut"),
        _O("list_user_tokens", "GET /users/{name}/tokens", "admin", out="list[TokenOut]"),
        _O(
            "create_user_token",
            "POST /users/{name}/tokens",
            "admin",
            out="TokenCreatedOut",
            body="TokenIn?",
            status=201,
        ),
        _O("list_tokens", "GET /tokens", "admin", out="list[TokenOut]"),
        _O("revoke_user_token", "DELETE /tokens/{token_id}", "admin", out="TokenOut"),
    ),
)

_BY_NAME = {op.name: op for op in OPERATIONS}


def operation(name: str) -> Operation:
    """The operation called ``name`` (KeyError: none is)."""
    return _BY_NAME[name]


def call(name: str, /, **params: object) -> Call:
    """The request for operation ``name`` with its path ``params`` filled in."""
    op = _BY_NAME[name]
    return Call(op.method, op.url(**params))
