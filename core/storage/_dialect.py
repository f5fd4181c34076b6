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
    """Spelling of one database: placeholders, table names, booleans, collation, key lists.

    Upserts need nothing here: SQLite (3.24+) and PostgreSQL both spell them
    ``INSERT ... ON CONFLICT (...) DO UPDATE SET c = excluded.c`` / ``DO NOTHING``.

    Args:
        name: ``"sqlite"`` or ``"postgresql"``.
        param: The placeholder of a parameter (``?`` or ``%s``).
        tables: Logical table name -> the name in this database (``runs`` -> ``index_runs``).
        collate_c: Appended to an ``ORDER BY`` of text that must sort by code point.
        true: A true boolean literal (``{true}`` in a template; SQLite stores 1, PostgreSQL
            has a boolean type); ``{false}`` is its opposite.
    """

    __slots__ = ("_cache", "_fields", "name", "param")

    def __init__(self, name: str, param: str, tables: Mapping[str, str], collate_c: str, true: str) -> None:
        self.name = name
        self.param = param
        false = {"1": "0", "true": "false"}[true]
        self._fields = {**tables, "collate_c": collate_c, "true": true, "false": false}
        self._cache: dict[str, str] = {}

    def sql(self, template: str) -> str:
        """``template`` (``?`` placeholders, ``{table}`` names) in this dialect."""
        found = self._cache.get(template)
        if found is None:
            found = template.format(**self._fields)
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


def sqlite(tables: tuple[str, ...]) -> Dialect:
    """SQLite's dialect over ``tables`` (named as they are)."""
    return Dialect("sqlite", "?", {t: t for t in tables}, "", "1")


def postgres(prefix: str, tables: tuple[str, ...]) -> Dialect:
    """PostgreSQL's dialect over ``tables``, named ``<prefix><table>`` (one database, many stores)."""
    return Dialect("postgresql", "%s", {t: f"{prefix}{t}" for t in tables}, ' COLLATE "C"', "true")
