"""Small HTML helpers for the report: escaping, number formats, tables, embedded PNG figures."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from fedrisk.report.rundir import as_float


@dataclass(frozen=True)
class Section:
    """One report section: ``present`` is False when the run lacks its data (the body then says so)."""

    key: str
    title: str
    body: str
    present: bool


def esc(x: object) -> str:
    """HTML-escape ``str(x)``."""
    return escape(str(x), quote=True)


def num(x: object, digits: int = 3, *, signed: bool = False, pct: bool = False) -> str:
    """A number for a table cell; ``—`` for null, missing or non-finite values."""
    value = as_float(x)
    if value is None:
        return "—"
    if pct:
        value *= 100
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return text + (" %" if pct else "")


def cell(x: object) -> str:
    """A generic cell: numbers formatted, booleans as yes/no, null as ``—``, the rest escaped."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return num(x, 4)
    if isinstance(x, list | tuple):
        return esc(", ".join(str(v) for v in x))
    return esc(x)


def table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str | None = None, key: str = "") -> str:
    """An HTML table; ``rows`` hold already-escaped cell HTML."""
    head = "".join(f"<th scope='col'>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (  # wide tables (the red team's) scroll inside their section; the page itself never scrolls sideways
        f"<div class='table-wrap'><table data-table='{esc(key)}'>{cap}<thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def paragraph(text: str, cls: str = "") -> str:
    """A paragraph of plain text (escaped)."""
    attr = f" class='{cls}'" if cls else ""
    return f"<p{attr}>{esc(text)}</p>"


def absent(text: str, *, error: bool = False) -> str:
    """The plain statement that a section has no data (``error``: data present but unreadable)."""
    return f"<p class='absent{' error' if error else ''}' data-absent='true'>{esc(text)}</p>"


def png_data_uri(png: bytes) -> str:
    """``data:`` URI of PNG bytes (the report embeds every image, so it opens offline)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure(draw: Callable[[Path], Any], *, alt: str, caption: str, key: str) -> str:
    """Run ``draw(path)`` (a plot function writing a PNG) in a temporary folder and embed the PNG."""
    with tempfile.TemporaryDirectory(prefix="fedrisk-report-") as tmp:
        path = Path(tmp) / f"{key}.png"
        draw(path)
        uri = png_data_uri(path.read_bytes())
    return (
        f"<figure data-figure='{esc(key)}'><img src='{uri}' alt='{esc(alt)}'>"
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


CSS = """
:root { --blue:#0072B2; --orange:#E69F00; --green:#009E73; --verm:#D55E00; --grey:#595959; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color:#1a1a1a;
       margin:0; background:#fafafa; line-height:1.45; }
header { background:#12304a; color:#fff; padding:1.2rem 2rem; }
header h1 { margin:0 0 .3rem 0; font-size:1.6rem; }
header .meta { margin:0; opacity:.9; font-size:.9rem; }
main { max-width:1150px; margin:0 auto; padding:1rem 2rem 3rem 2rem; }
nav { font-size:.9rem; margin:1rem 0; display:flex; flex-wrap:wrap; gap:.3rem 0; }
nav a { margin-right:.8rem; color:var(--blue); white-space:nowrap; }
section { background:#fff; border:1px solid #ddd; border-radius:6px; padding:1rem 1.4rem; margin:1.2rem 0; }
section h2 { margin-top:.2rem; font-size:1.25rem; }
#summary { border-left:6px solid var(--blue); }
#summary li { margin:.3rem 0; }
.quick { background:#fff4d6; border:1px solid var(--orange); padding:.4rem .7rem; border-radius:4px; }
.absent { color:var(--grey); font-style:italic; border-left:4px solid #bbb; padding-left:.7rem; }
.absent.error { color:var(--verm); border-left-color:var(--verm); }
.table-wrap { max-width:100%; overflow-x:auto; }
table { border-collapse:collapse; margin:.6rem 0 1rem 0; font-size:.86rem; font-variant-numeric:tabular-nums; }
caption { text-align:left; font-weight:600; padding:.2rem 0; }
th, td { border-bottom:1px solid #e3e3e3; padding:.25rem .6rem; text-align:right; white-space:nowrap; }
th { white-space:normal; }
th:first-child, td:first-child { text-align:left; }
thead th { background:#eef3f7; }
tbody tr:nth-child(even) { background:#f7f9fb; }
.gain { color:var(--blue); font-weight:600; }
.loss { color:var(--verm); font-weight:600; }
figure { margin:.6rem 0 1rem 0; }
figure img { max-width:100%; height:auto; border:1px solid #eee; }
figcaption { font-size:.85rem; color:var(--grey); }
.badge { display:inline-block; padding:.15rem .6rem; border-radius:3px; font-weight:700; color:#fff; }
.badge.ok { background:var(--blue); }
.badge.fail { background:var(--verm); }
footer { font-size:.8rem; color:var(--grey); margin-top:2rem; }
"""
