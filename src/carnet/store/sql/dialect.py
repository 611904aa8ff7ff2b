"""Dialect-specific statements, imported only for the dialect in use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table

__all__ = ["insert_for"]


def insert_for(conn: Connection, table: Table) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the connection's dialect (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)
