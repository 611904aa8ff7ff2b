"""An Optuna journal kept in the workspace database, for searches whose trials run on a cluster.

The study of a search run on Ray or Dask lives in the ``search_journal`` table (SQLite or
PostgreSQL, through the same store as everything else), one row per Optuna log entry, keyed by
the study's name (``carnet-search-<parent run id>``). It outlives the driver, and Optuna's own
tools read it back with ``JournalStorage(WorkspaceJournal(ctx, name))``. The driver asks and
tells; it is the only writer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from optuna.storages.journal import BaseJournalBackend

from carnet.services.context import ServiceContext

__all__ = ["WorkspaceJournal"]


class WorkspaceJournal(BaseJournalBackend):
    """Optuna's journal backend over the workspace database (one journal per study name)."""

    def __init__(self, ctx: ServiceContext, study: str) -> None:
        self.ctx = ctx
        self.study = study

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        """The entries from number ``log_number_from`` on, in order."""
        with self.ctx.store.transaction(write=False) as tx:
            entries = tx.runs.read_journal(self.study, int(log_number_from))
        return [json.loads(entry) for entry in entries]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append entries after the last one, in one transaction."""
        with self.ctx.store.transaction() as tx:
            tx.runs.append_journal(self.study, [json.dumps(log) for log in logs], self.ctx.clock())
