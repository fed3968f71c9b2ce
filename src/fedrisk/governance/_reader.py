"""A typed reader over a parsed TOML table that collects issues instead of raising.

Every accessor returns ``None`` when the key is missing or has the wrong type, after recording a
:class:`ConstitutionIssue`; range checks then run only on values that were read, so one mistake
gives one issue.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from fedrisk.governance.constitution import ConstitutionIssue

Table = Mapping[str, object]


def join(path: str, key: str) -> str:
    """Return the dotted key ``path.key`` (or ``key`` at the top level)."""
    return f"{path}.{key}" if path else key


class IssueCollector:
    """Collects :class:`ConstitutionIssue` objects and reads typed values from tables."""

    def __init__(self) -> None:
        self.issues: list[ConstitutionIssue] = []

    def add(self, key: str, message: str, fix: str) -> None:
        """Record one issue."""
        self.issues.append(ConstitutionIssue(key=key, message=message, fix=fix))

    def check_keys(self, raw: Table, allowed: Iterable[str], path: str) -> None:
        """Record an issue for each key of ``raw`` not in ``allowed``, suggesting the closest name."""
        allowed_list = sorted(allowed)
        for key in raw:
            if key in allowed_list:
                continue
            close = difflib.get_close_matches(key, allowed_list, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed_list)}"
            self.add(join(path, key), f"unknown key '{key}'", f"remove it; {hint}")

    def table(self, raw: Table, key: str, path: str = "", *, required: bool = True) -> Table | None:
        """Return the sub-table ``raw[key]``; record an issue when missing or not a table."""
        value = raw.get(key)
        if value is None:
            if required:
                self.add(join(path, key), "missing section", f"add a [{join(path, key)}] table")
            return None
        if not isinstance(value, Mapping):
            self.add(join(path, key), f"must be a table, got {type(value).__name__}", f"write [{key}]")
            return None
        return value

    def tables(self, raw: Table, key: str, path: str = "") -> list[Table]:
        """Return the array of tables ``raw[key]`` (``[[key]]`` in TOML)."""
        value = raw.get(key)
        if value is None:
            self.add(join(path, key), "missing array of tables", f"add one or more [[{key}]] entries")
            return []
        if not isinstance(value, Sequence) or isinstance(value, str):
            self.add(join(path, key), "must be an array of tables", f"write each entry as [[{key}]]")
            return []
        out: list[Table] = []
        for i, item in enumerate(value):
            if isinstance(item, Mapping):
                out.append(item)
            else:
                self.add(f"{join(path, key)}[{i}]", "must be a table", f"write the entry as [[{key}]]")
        return out

    def string(
        self,
        raw: Table,
        key: str,
        path: str,
        *,
        default: str | None = None,
        choices: Sequence[str] | None = None,
    ) -> str | None:
        """Read a non-empty string, optionally one of ``choices``."""
        value = raw.get(key, default)
        full = join(path, key)
        if value is None:
            self.add(full, "missing", f'add {key} = "..."')
            return None
        if not isinstance(value, str) or not value.strip():
            self.add(full, f"must be a non-empty string, got {value!r}", f'write {key} = "..."')
            return None
        if choices is not None and value not in choices:
            close = difflib.get_close_matches(value, list(choices), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.add(full, f"'{value}' is not allowed", f"use one of: {', '.join(choices)}{hint}")
            return None
        return value

    def integer(self, raw: Table, key: str, path: str, *, default: int | None = None) -> int | None:
        """Read an integer (booleans are rejected)."""
        value = raw.get(key, default)
        full = join(path, key)
        if value is None:
            self.add(full, "missing", f"add {key} = <integer>")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(full, f"must be an integer, got {value!r}", f"write {key} = <integer>")
            return None
        return value

    def number(self, raw: Table, key: str, path: str, *, default: float | None = None) -> float | None:
        """Read a number (int or float; booleans are rejected)."""
        value = raw.get(key, default)
        full = join(path, key)
        if value is None:
            self.add(full, "missing", f"add {key} = <number>")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(full, f"must be a number, got {value!r}", f"write {key} = <number>")
            return None
        return float(value)

    def boolean(self, raw: Table, key: str, path: str, *, default: bool | None = None) -> bool | None:
        """Read a boolean."""
        value = raw.get(key, default)
        full = join(path, key)
        if value is None:
            self.add(full, "missing", f"add {key} = true|false")
            return None
        if not isinstance(value, bool):
            self.add(full, f"must be true or false, got {value!r}", f"write {key} = true|false")
            return None
        return value

    def day(self, raw: Table, key: str, path: str) -> date | None:
        """Read a TOML date (``2024-01-03``) or an ISO date string."""
        value = raw.get(key)
        full = join(path, key)
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.add(full, f"must be a date, got {value!r}", f"write {key} = 2024-01-31 (TOML date)")
        return None

    def positive(self, value: float | None, key: str, what: str = "") -> None:
        """Record an issue when ``value`` is present and ≤ 0."""
        if value is not None and value <= 0:
            self.add(key, f"must be > 0, got {value}", f"set a positive {what or 'value'}")

    def non_negative(self, value: float | None, key: str) -> None:
        """Record an issue when ``value`` is present and < 0."""
        if value is not None and value < 0:
            self.add(key, f"must be ≥ 0, got {value}", "set 0 or a positive value")


__all__ = ["IssueCollector", "Table", "join"]
