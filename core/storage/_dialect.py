"""What the SQL of the index and the state store spells differently in SQLite and PostgreSQL.

The shared implementations (:mod:`tracker.storage._sql_index`, :mod:`tracker.storage._sql_state`)
write each statement once, with ``?`` placeholders and ``{table}`` names; a :class:`Dialect`
renders it for its database, once per statement (the rendered text is cached, so a hot path
pays one dict lookup). What differs beyond spelling (connections, locking, COPY, pipeline
mode, SQLite's file handling) stays in the backend modules, as Optuna's ``RDBStorage`` keeps
its few ``if engine.name == ...`` branches where the SQL really differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__: list[str] = []

#: SQLite limits the number of host parameters of one statement: key lists go in parts.
IN_PART: Final = 500


class Dialect:
    """Spelling of one database: placeholders, table names, collation, key lists, upserts.

    Args:
        name: ``"sqlite"`` or ``"postgresql"``.
        param: The placeholder of a parameter (``?`` or ``%s``).
        tables: Logical table name -> the name in this database (``runs`` -> ``index_runs``).
        collate_c: Appended to an ``ORDER BY`` of text that must sort by code point.
    """

    __slots__ = ("_cache", "collate_c", "name", "param", "tables")

    def __init__(self, name: str, param: str, tables: Mapping[str, str], collate_c: str) -> None:
        self.name = name
        self.param = param
        self.tables = dict(tables)
        self.collate_c = collate_c
        self._cache: dict[str, str] = {}

    def sql(self, template: str) -> str:
        """``template`` (``?`` placeholders, ``{table}`` names) in this dialect."""
        found = self._cache.get(template)
        if found is None:
            found = template.format(**self.tables, collate_c=self.collate_c)
            if self.param != "?":
                found = found.replace("?", self.param)
            self._cache[template] = found
        return found

    def key_parts(self, column: str, keys: list[str]) -> list[tuple[str, list[Any]]]:
        """``AND column IN keys`` as (SQL, parameters) parts; one part where arrays exist."""
        if self.name == "postgresql":
            return [(f"AND {column} = ANY(%s::text[]) ", [keys])]
        parts = []
        for i in range(0, len(keys), IN_PART):
            part = keys[i : i + IN_PART]
            parts.append((f"AND {column} IN ({','.join('?' * len(part))}) ", part))
        return parts

    def insert_ignore(self, table: str, columns: str, conflict: str) -> str:
        """An INSERT that does nothing when a row with the same ``conflict`` key exists."""
        marks = ", ".join("?" * len(columns.split(",")))
        if self.name == "postgresql":
            return f"INSERT INTO {{{table}}} ({columns}) VALUES ({marks}) ON CONFLICT ({conflict}) DO NOTHING"
        return f"INSERT OR IGNORE INTO {{{table}}} ({columns}) VALUES ({marks})"

    def upsert(self, table: str, columns: str, conflict: str) -> str:
        """An INSERT that replaces the other columns of a row with the same ``conflict`` key."""
        names = [c.strip() for c in columns.split(",")]
        keys = {c.strip() for c in conflict.split(",")}
        marks = ", ".join("?" * len(names))
        sets = ", ".join(f"{c} = excluded.{c}" for c in names if c not in keys)
        return f"INSERT INTO {{{table}}} ({columns}) VALUES ({marks}) ON CONFLICT ({conflict}) DO UPDATE SET {sets}"  # noqa: E501


def sqlite(tables: tuple[str, ...]) -> Dialect:
    """SQLite's dialect over ``tables`` (named as they are)."""
    return Dialect("sqlite", "?", {t: t for t in tables}, "")


def postgres(prefix: str, tables: tuple[str, ...]) -> Dialect:
    """PostgreSQL's dialect over ``tables``, named ``<prefix><table>`` (one database, many stores)."""
    return Dialect("postgresql", "%s", {t: f"{prefix}{t}" for t in tables}, ' COLLATE "C"')
