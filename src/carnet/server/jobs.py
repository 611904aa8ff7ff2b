"""Work a server runs in the background for its users (an AutoML study, a promotion's gates), with
what each job reports as it goes.

A :class:`JobRegistry` runs each job in a thread of the server process: at most ``workers`` at once
(the others wait, ``queued``), at most ``per_user`` unfinished jobs per user and ``max_waiting`` in
all (a :class:`~carnet.errors.Conflict` beyond, naming the limit). A job keeps its progress, the
records of its steps, its result, or the problem its failure maps to (never a traceback). Finished
jobs are kept for a while (the ``keep`` newest) so their page can still be read. Jobs live in
memory: a restarted server forgets them, while what they stored (runs, promotions) stays.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from carnet.errors import Conflict, InvalidInput, NotFound

__all__ = ["STATES", "Job", "JobFailed", "JobRegistry", "jobs_of", "new_job_id"]

log = logging.getLogger("carnet.server.jobs")

#: job states, in the order a job goes through them
STATES = ("queued", "running", "done", "failed")
_LOCK = threading.Lock()


def new_job_id() -> str:
    """A random job id (32 hex digits): unguessable, so a job's page is found only through its link."""
    return secrets.token_hex(16)


class JobFailed(Exception):  # noqa: N818 - the failure of a job, carried with its problem detail
    """Ends a job as failed with ``problem`` (a problem+json document) as its error."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail") or problem.get("title") or "the job failed"))
        self.problem = problem


@dataclass
class Job:
    """One background job: who started it, on what, how far it got, and how it ended."""

    id: str
    kind: str
    owner: str
    project: str
    subject: str
    created: float
    state: str = "queued"
    started: float | None = None
    ended: float | None = None
    stage: str = ""
    done: int = 0
    total: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    problem: dict[str, Any] | None = None
    #: what a page learnt about the job (e.g. the run it made), kept for the next look
    notes: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def report(self, stage: str, done: int, total: int) -> None:
        """Record progress: ``done`` of ``total`` in ``stage``."""
        with self._lock:
            self.stage, self.done, self.total = str(stage), int(done), int(total)

    def set_steps(self, steps: list[dict[str, Any]]) -> None:
        """Replace the step records (each a small mapping a page shows as one row)."""
        with self._lock:
            self.steps = [dict(s) for s in steps]

    def update_step(self, index: int, **values: Any) -> None:
        """Update step ``index`` (appended when it is one past the end)."""
        with self._lock:
            if index == len(self.steps):
                self.steps.append({})
            self.steps[index].update(values)

    def snapshot(self) -> dict[str, Any]:
        """The job as plain data, read consistently (for a page)."""
        with self._lock:
            return {
                "id": self.id,
                "kind": self.kind,
                "owner": self.owner,
                "project": self.project,
                "subject": self.subject,
                "state": self.state,
                "created": self.created,
                "started": self.started,
                "ended": self.ended,
                "stage": self.stage,
                "done": self.done,
                "total": self.total,
                "steps": [dict(s) for s in self.steps],
                "result": self.result,
                "problem": self.problem,
                "finished": self.finished,
            }


Work = Callable[[Job], Any]
Describe = Callable[[BaseException], dict[str, Any]]


class JobRegistry:
    """The background jobs of one server.

    Raises:
        InvalidInput: a limit below 1.
    """

    def __init__(
        self, *, workers: int = 2, per_user: int = 2, max_waiting: int = 32, keep: int = 200
    ) -> None:
        for name, value in (("workers", workers), ("per_user", per_user), ("max_waiting", max_waiting),
                            ("keep", keep)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{name} must be an integer >= 1, got {value!r}", field=name)
        self.per_user = per_user
        self.max_waiting = max_waiting
        self.keep = keep
        self._slots = threading.BoundedSemaphore(workers)
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def _unfinished(self, owner: str | None = None) -> list[Job]:
        return [j for j in self._jobs.values() if not j.finished and (owner is None or j.owner == owner)]

    def check_room(self, owner: str) -> None:
        """Raise Conflict when ``owner`` may not start another job now (see :meth:`submit`)."""
        with self._lock:
            self._check_room(owner)

    def _check_room(self, owner: str) -> None:
        mine = self._unfinished(owner)
        if len(mine) >= self.per_user:
            raise Conflict(
                f"you already have {len(mine)} job(s) running (at most {self.per_user} per user); "
                "wait for one to end",
                field="job",
            )
        if len(self._unfinished()) >= self.max_waiting:
            raise Conflict(
                f"the server already runs or queues {self.max_waiting} jobs; try again later", field="job"
            )

    def submit(
        self,
        kind: str,
        owner: str,
        work: Work,
        describe: Describe,
        *,
        project: str = "",
        subject: str = "",
        job_id: str | None = None,
        steps: list[dict[str, Any]] | None = None,
    ) -> Job:
        """Start ``work(job)`` in a thread once a worker is free; its return value is the result.

        ``steps`` are the job's first step records (e.g. every gate, waiting). ``work`` ends the
        job failed by raising :class:`JobFailed` (with its problem) or any other exception
        (``describe`` turns it into the problem shown).

        Raises:
            Conflict: ``owner`` has ``per_user`` unfinished jobs, or ``max_waiting`` jobs are unfinished.
        """
        job = Job(job_id or new_job_id(), kind, owner, project, subject, time.time())
        job.set_steps(steps or [])
        with self._lock:
            self._check_room(owner)
            if job.id in self._jobs:
                raise Conflict(f"job {job.id} exists already", field="job")
            self._jobs[job.id] = job
            self._prune()
        threading.Thread(
            target=self._run, args=(job, work, describe), name=f"carnet-job-{kind}", daemon=True
        ).start()
        return job

    def _run(self, job: Job, work: Work, describe: Describe) -> None:
        with self._slots:
            job.state, job.started = "running", time.time()
            try:
                result = work(job)
            except JobFailed as exc:
                job.problem, job.state = exc.problem, "failed"
            except BaseException as exc:  # noqa: BLE001 - every failure is kept and shown as a problem
                if not isinstance(exc, Exception):
                    log.warning("job %s (%s) stopped: %s", job.id, job.kind, type(exc).__name__)
                try:
                    job.problem = describe(exc)
                except Exception:  # noqa: BLE001 - describing must not lose the failure
                    log.exception("job %s: describing its failure failed", job.id)
                    job.problem = {
                        "status": 500,
                        "title": "Internal Server Error",
                        "detail": "the job failed",
                    }
                job.state = "failed"
            else:
                job.result, job.state = result, "done"
            finally:
                job.ended = time.time()

    def _prune(self) -> None:
        """Forget the oldest finished jobs beyond ``keep``."""
        finished = [k for k, j in self._jobs.items() if j.finished]
        for key in finished[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[key]

    def get(self, job_id: str, owner: str | None = None) -> Job:
        """The job ``job_id`` (of ``owner`` when given: another user's job is not found either).

        Raises:
            NotFound: no such job (unknown, forgotten, or another user's).
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or (owner is not None and job.owner != owner):
            raise NotFound(
                f"no job {job_id[:40]!r}: it ended long ago, the server restarted, or it is not yours",
                field="job",
            )
        return job

    def find(self, owner: str, kind: str, **notes: Any) -> Job | None:
        """The newest job of ``owner`` and ``kind`` whose notes hold ``notes`` (None when none)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in reversed(jobs):
            if (
                job.owner == owner
                and job.kind == kind
                and all(job.notes.get(k) == v for k, v in notes.items())
            ):
                return job
        return None


def jobs_of(app: Any) -> JobRegistry:
    """The job registry of a server app (``app.state.jobs``, made on first use)."""
    registry = getattr(app.state, "jobs", None)
    if registry is None:
        with _LOCK:
            registry = getattr(app.state, "jobs", None)
            if registry is None:
                registry = JobRegistry()
                app.state.jobs = registry
    return registry
