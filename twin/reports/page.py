"""One self-contained HTML page: plotly.js embedded once, then each figure with its caption."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

PAGE_CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 1200px; color: #222; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } .sub { color: #666; margin-top: 0; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: 0.3rem; }
.caption { color: #444; font-size: 0.95rem; margin: 0.3rem 0 1.5rem; max-width: 60rem; }
table.kpi { border-collapse: collapse; font-size: 0.95rem; }
table.kpi td, table.kpi th { padding: 0.25rem 0.8rem; border-bottom: 1px solid #eee; text-align: right; }
table.kpi td:first-child, table.kpi th:first-child { text-align: left; }
table { word-break: normal; overflow-wrap: normal; hyphens: none; }
table td, table th { white-space: nowrap; }
div.tablewrap { overflow-x: auto; max-width: 100%; }
.note.warning { border-left-color: #d62728; background: #fdf1f1; }
.prov { color: #777; font-size: 0.85rem; }
.note { background: #f6f6f6; padding: 0.6rem 1rem; border-left: 3px solid #bbb; }
.warning { background: #fff4e5; padding: 0.6rem 1rem; border-left: 3px solid #e8a33d; }
"""


@dataclass
class Section:
    """A heading, a figure (or raw HTML) and a caption saying how to read it."""

    heading: str
    caption: str
    figure: Any = None  # a plotly Figure
    html: str = ""


def render_page(title: str, subtitle: str, sections: list[Section], footer: str = "") -> str:
    """The whole HTML document as a string (works offline)."""
    from plotly.offline import get_plotlyjs

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{PAGE_CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">{html.escape(subtitle)}</p>',
    ]
    for i, sec in enumerate(sections):
        parts.append(f"<h2>{html.escape(sec.heading)}</h2>")
        if sec.figure is not None:
            parts.append(
                sec.figure.to_html(
                    full_html=False, include_plotlyjs=False, div_id=f"fig{i}",
                    config={"displaylogo": False, "responsive": True},
                )
            )
        if sec.html:
            parts.append(sec.html)
        parts.append(f'<p class="caption">{html.escape(sec.caption)}</p>')
    if footer:
        parts.append(f'<p class="prov">{html.escape(footer)}</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
