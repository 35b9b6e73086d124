"""Compiler-style diagnostics: `path:line:col: error: message`, the source line and a caret."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Loc:
    """A 1-based line/column position in a source file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    loc: Loc
    message: str
    severity: str = "error"
    notes: tuple[Diagnostic, ...] = ()


class LidlError(Exception):
    """Raised when one or more user errors were found; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str]):
        super().__init__(f"{len(diagnostics)} error(s)")
        self.diagnostics = diagnostics
        self.sources = sources

    def render(self) -> str:
        return render_all(self.diagnostics, self.sources)


@dataclass
class DiagnosticSink:
    """Collects diagnostics so that one run reports every independent error it can find."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, loc: Loc, message: str, notes: tuple[Diagnostic, ...] = ()) -> None:
        self.diagnostics.append(Diagnostic(loc, message, "error", notes))

    def __bool__(self) -> bool:
        return bool(self.diagnostics)


def _render_one(d: Diagnostic, sources: dict[str, str]) -> str:
    out = [f"{d.loc}: {d.severity}: {d.message}"]
    text = sources.get(d.loc.file)
    if text is not None:
        lines = text.split("\n")
        if 1 <= d.loc.line <= len(lines):
            src = lines[d.loc.line - 1].rstrip("\r")
            # Keep tabs in the caret prefix so the caret lines up whatever the tab width.
            prefix = "".join("\t" if ch == "\t" else " " for ch in src[: d.loc.col - 1])
            out.append(src)
            out.append(prefix + "^")
    for note in d.notes:
        out.append(_render_one(note, sources))
    return "\n".join(out)


def render_all(diagnostics: list[Diagnostic], sources: dict[str, str]) -> str:
    """Render diagnostics in a stable order (file, line, column, then emission order)."""
    ordered = sorted(enumerate(diagnostics), key=lambda p: (p[1].loc, p[0]))
    return "\n".join(_render_one(d, sources) for _, d in ordered) + ("\n" if diagnostics else "")
