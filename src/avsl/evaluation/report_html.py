"""The HTML pieces of avsl's reports: number cells that keep metrics.json's exact value beside
the rounded one a person reads, tables, embedded PNGs, and the page around them. One file,
nothing fetched from elsewhere, so a report can be mailed or archived as it is."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{padding:0.25em 0.8em;border-bottom:1px solid #ddd}
th{text-align:left}td{text-align:right}td.text{text-align:left}img{max-width:100%}
caption{text-align:left;color:#555;padding-bottom:0.3em}.note{color:#555;font-size:0.92em}"""


GENERATOR = '<meta name="generator" content="avsl report">'  # marks a page avsl may replace


def written_by_avsl(path: Path) -> bool:
    """Whether the existing file `path` is a page avsl wrote (its first 4 KB carry GENERATOR)."""
    try:
        with path.open("rb") as stream:
            return GENERATOR.encode() in stream.read(4096)
    except OSError:
        return False


def escape(value: object) -> str:
    return html.escape(str(value))


def number(value: object, key: str = "", kind: str = "plain") -> str:
    """A table cell for a number: shown rounded (`kind`: "percent" for AP-like scores, "score"
    for cIoU-like ones, "plain" for counts), exact in `data-value`, named by `data-key` (the
    metrics.json path it comes from), so a script or a test reads the page's numbers back."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        shown = "-"
    elif kind == "percent":
        shown = f"{100 * value:.1f}"
    elif kind == "score":
        shown = f"{value:.3f}"
    else:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
    exact = "" if value is None else f' data-value="{value!r}"'
    named = f' data-key="{escape(key)}"' if key else ""
    return f"<td{named}{exact}>{shown}</td>"


def text(value: object) -> str:
    return f'<td class="text">{escape("-" if value is None else value)}</td>'


def table(header: Sequence[str], rows: Sequence[Sequence[str]], caption: str = "") -> str:
    """`rows` hold cells made by `number` or `text`; the first cell of each row is its label."""
    head = "".join(f"<th>{escape(name)}</th>" for name in header)
    body = "\n".join(f"<tr><th>{escape(row[0])}</th>{''.join(row[1:])}</tr>" for row in rows)
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<tr>{head}</tr>\n{body}</table>"


def pyplot():
    """matplotlib's pyplot drawing to files only (no display is needed or opened)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def png(figure, alt: str = "figure") -> str:
    """An <img> holding the matplotlib figure, which is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    pyplot().close(figure)
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def page(title: str, sections: Sequence[str]) -> str:
    body = "\n".join(section for section in sections if section)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">{GENERATOR}<title>{escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
{body}
</body></html>
"""
