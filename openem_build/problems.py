"""Located problems: what is wrong, where, and how to fix it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about one place in one file.

    ``field`` is the dotted path inside the document (``authors[0].orcid``), empty for the whole file.
    Lines and columns are 1-based; 0 means unknown.
    """

    path: str
    line: int
    col: int
    field: str
    message: str
    hint: str = ""
    severity: str = ERROR

    def text(self) -> str:
        """``path:line:col: field: message — hint`` (the project's message convention)."""
        where = self.path
        if self.line:
            where += f":{self.line}:{self.col or 1}"
        parts = [where]
        if self.severity == WARNING:
            parts.append("warning")
        if self.field:
            parts.append(self.field)
        body = self.message + (f" — {self.hint}" if self.hint else "")
        return ": ".join(parts) + ": " + body

    def github(self) -> str:
        """A GitHub Actions workflow command that annotates the pull request's diff."""
        kind = "error" if self.severity == ERROR else "warning"
        props = [f"file={_gh_prop(self.path)}"]
        if self.line:
            props += [f"line={self.line}", f"col={self.col or 1}"]
        title = self.field or "openem"
        props.append(f"title={_gh_prop(title)}")
        body = self.message + (f" — {self.hint}" if self.hint else "")
        return f"::{kind} {','.join(props)}::{_gh_data(body)}"

    def as_json(self) -> dict:
        return {"path": self.path, "line": self.line, "column": self.col, "field": self.field,
                "severity": self.severity, "message": self.message, "hint": self.hint}


def _gh_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(value: str) -> str:
    return _gh_data(value).replace(":", "%3A").replace(",", "%2C")


def relpath(path: Path, root: Path | None) -> str:
    """A path as shown in messages: relative to the catalogue root when inside it."""
    if root is not None:
        try:
            return path.absolute().relative_to(root.absolute()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(set(problems), key=lambda p: (p.path, p.line, p.col, p.field, p.message))


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == ERROR]


def render(problems: list[Problem], fmt: str) -> str:
    """All problems in one output format: ``text``, ``json`` or ``github``."""
    if fmt == "json":
        return json.dumps([p.as_json() for p in problems], indent=2, ensure_ascii=False) + "\n"
    if fmt == "github":
        return "".join(p.github() + "\n" for p in problems)
    return "".join(p.text() + "\n" for p in problems)
