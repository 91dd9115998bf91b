"""Located problems: what is wrong, where, and how to fix it; and the output every command prints them through.

Paths, folder and file names, ids and YAML values in messages come from contributors. Printed, none of them may
start a line of its own or read as a GitHub Actions workflow command (``::error …``, ``##[error]…``) in a CI log:
:func:`clean` shows their control characters as escapes, and :class:`CommandGuard`, the CLI's standard output and
error, disarms any line that would still be read as a command.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

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
        """``path:line:col: field: message — hint`` (the project's message convention), on one line."""
        where = self.path
        if self.line:
            where += f":{self.line}:{self.col or 1}"
        parts = [where]
        if self.severity == WARNING:
            parts.append("warning")
        if self.field:
            parts.append(self.field)
        body = self.message + (f" — {self.hint}" if self.hint else "")
        return clean(": ".join(parts) + ": " + body)

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
    # GitHub's escapes for a command's message (its line breaks are shown in the annotation), then the escapes of
    # clean() for the other control characters.
    return clean(value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _gh_prop(value: str) -> str:
    return _gh_data(value).replace(":", "%3A").replace(",", "%2C")


#: Control characters (C0, DEL, C1: newlines, carriage returns, terminal escapes), the line and paragraph
#: separators, and the bidirectional embeddings, overrides and isolates that make a line read otherwise than it is.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def clean(text: str) -> str:
    """``text`` on one line: each control character, line separator or bidirectional override shown as its escape
    (``\\n``, ``\\x1b``, ``\\u202e``, as in a Python string) instead of acting."""
    return _UNSAFE.sub(_escape, text)


def entry(text: str) -> str:
    """A message of one or more lines (an error with the located problems under it) as printed: each line cleaned,
    every line after the first indented, so that no part of it reads as a message of its own."""
    first, *more = text.split("\n")
    return "\n".join([clean(first), *("  " + clean(line) for line in more)])


class EntryFormatter(logging.Formatter):
    """Log records printed as :func:`entry` messages (MkDocs' and the plugin's messages name files and folders)."""

    def format(self, record: logging.LogRecord) -> str:
        return entry(super().format(record))


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


#: What json.dumps leaves as it is but a reader may take for a line break or an override (json.dumps escapes
#: U+0000 to U+001F itself).
_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def render(problems: list[Problem], fmt: str) -> str:
    """All problems in one output format: ``text``, ``json`` or ``github``."""
    if fmt == "json":
        text = json.dumps([p.as_json() for p in problems], indent=2, ensure_ascii=False)
        # The same values, escaped in JSON's own way: inside strings (the only place these characters and a
        # "##" can be), so the document still reads back exactly and no line of it is a workflow command.
        text = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).replace("##[", "##\\u005b")
        return text + "\n"
    if fmt == "github":
        return "".join(p.github() + "\n" for p in problems)
    return "".join(p.text() + "\n" for p in problems)


def emit(problems: list[Problem], fmt: str, stream: TextIO) -> None:
    """Write :func:`render`'s output to ``stream``; the workflow commands of the ``github`` format through a
    :class:`CommandGuard`'s :meth:`~CommandGuard.command`, the one way a command reaches the log."""
    command = getattr(stream, "command", None)
    if fmt == "github" and command is not None:
        for p in problems:
            command(p.github() + "\n")
    else:
        stream.write(render(problems, fmt))


#: Where a line ends for some reader: the GitHub runner (\r, \n), Python's str.splitlines, terminals.
_SPLIT = re.compile(r"([\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029])")


class CommandGuard(io.TextIOBase):
    """A text stream writing to ``stream`` in which no line is a GitHub Actions workflow command.

    The runner takes a line for a command when it starts with ``::`` after blanks, or holds ``##[`` anywhere
    (the older form). Such a line gets a backslash before its ``::``, and ``##[`` becomes ``##\\[``. The lines
    :meth:`Problem.github` makes go through :meth:`command` unchanged. Everything else (progress bars' carriage
    returns and terminal escapes too) passes as written.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._start = True  # only blanks since the last line break
        self._held = ""  # an end (":" at a line's start, "#" or "##") that the next write may make a command of
        self._lock = threading.Lock()  # progress bars write from other threads

    def write(self, s: str) -> int:
        with self._lock:
            text, self._held = self._held + s, ""
            parts = _SPLIT.split(text)  # text, break, text, …, text
            out: list[str] = []
            for i, part in enumerate(parts):
                if i % 2:
                    self._start = True
                elif part and self._start:
                    body = part.lstrip()
                    if body.startswith("::"):
                        part = part[:len(part) - len(body)] + "\\" + body
                    elif body == ":" and i == len(parts) - 1:  # a second ":" may come next
                        part, self._held = part[:-1], ":"
                    self._start = not body or bool(self._held)
                out.append(part)
            done = "".join(out).replace("##[", "##\\[")
            if not self._held:  # a "[" may come next
                keep = min(2, len(done) - len(done.rstrip("#")))
                if keep:
                    done, self._held = done[:-keep], done[-keep:]
            self.stream.write(done)
        return len(s)

    def command(self, line: str) -> None:
        """Write ``line``, a workflow command made by this module and ending in a newline, as it is, on a line of
        its own."""
        with self._lock:
            pending, self._held = self._held, ""
            if pending or not self._start:
                pending += "\n"
            self.stream.write(pending + line)
            self._start = line.endswith("\n")

    def finish(self) -> None:
        """Write what was held back (nothing more is coming) and flush."""
        with self._lock:
            held, self._held = self._held, ""
            self.stream.write(held)
        self.flush()

    def close(self) -> None:
        """Finish, leaving ``stream`` open (it is not this object's)."""
        with contextlib.suppress(ValueError, OSError):  # the stream was closed already
            self.finish()

    def flush(self) -> None:
        self.stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.stream.errors

    def __getattr__(self, name: str) -> Any:  # buffer, mode, …: the stream's
        return getattr(self.stream, name)
