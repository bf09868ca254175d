"""The release review as one self-contained HTML page (`kwrec diff --html`, ``diff.html`` in the store).

No script, no external style, font or image: charts are inline SVG, so the page works offline and from
an e-mail attachment. Keywords are user-typed search queries, hostile by assumption: every text that
reaches the page goes through :func:`html.escape` (also inside SVG labels and titles).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from kwrec.core.release_diff import CustomerDiff, ListChange, ReleaseDiff

BAR_HEIGHT = 18
LABEL_WIDTH = 220
PLOT_WIDTH = 420
MOVERS = 15

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}
th{background:#f3f3f3}.entered{color:#1a7f37}.left{color:#cf222e}.chart{margin:1em 0 2em}
svg text{font-size:12px}h2{margin-top:2em;border-bottom:1px solid #ddd}
"""


def _bars(title: str, rows: Sequence[tuple[str, float, str]], *, scale: float, chart_id: str) -> str:
    """A horizontal bar chart: (label, value, shown value); bars are ``value / scale`` of the width."""
    height = BAR_HEIGHT * max(len(rows), 1) + 10
    parts = [
        f'<figure class="chart" id="{chart_id}"><figcaption>{escape(title)}</figcaption>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_WIDTH + PLOT_WIDTH + 80}" height="{height}"'
        f' role="img" aria-label="{escape(title)}">',
    ]
    for i, (label, value, shown) in enumerate(rows):
        y = i * BAR_HEIGHT + 5
        width = 0.0 if scale <= 0 else max(0.0, min(value / scale, 1.0)) * PLOT_WIDTH
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>'
            f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 2}" width="{width:.1f}" height="{BAR_HEIGHT - 4}"'
            f' fill="#4c78a8"><title>{escape(label)}: {escape(shown)}</title></rect>'
            f'<text x="{LABEL_WIDTH + width + 4:.1f}" y="{y + 13}">{escape(shown)}</text>'
        )
    parts.append("</svg></figure>")
    return "".join(parts)


def _paired_bars(title: str, rows: Sequence[tuple[str, float | None, float | None]], chart_id: str) -> str:
    """Old (grey) and new (blue) value side by side per customer."""
    values = [v for _, o, n in rows for v in (o, n) if v is not None]
    scale = max(values, default=0.0)
    height = 2 * BAR_HEIGHT * max(len(rows), 1) + 30
    parts = [
        f'<figure class="chart" id="{chart_id}"><figcaption>{escape(title)}</figcaption>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_WIDTH + PLOT_WIDTH + 80}" height="{height}"'
        f' role="img" aria-label="{escape(title)}">',
        f'<rect x="{LABEL_WIDTH}" y="2" width="10" height="10" fill="#bbb"/>'
        f'<text x="{LABEL_WIDTH + 14}" y="11">old</text>'
        f'<rect x="{LABEL_WIDTH + 50}" y="2" width="10" height="10" fill="#4c78a8"/>'
        f'<text x="{LABEL_WIDTH + 64}" y="11">new</text>',
    ]
    for i, (label, old, new) in enumerate(rows):
        y = 20 + i * 2 * BAR_HEIGHT
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + 20}" text-anchor="end">{escape(label)}</text>')
        for j, (value, color) in enumerate(((old, "#bbb"), (new, "#4c78a8"))):
            width = 0.0 if value is None or scale <= 0 else value / scale * PLOT_WIDTH
            shown = "-" if value is None else f"{value:g}"
            parts.append(
                f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + j * BAR_HEIGHT + 2}" width="{width:.1f}"'
                f' height="{BAR_HEIGHT - 4}" fill="{color}"><title>{escape(label)}: {shown}</title></rect>'
                f'<text x="{LABEL_WIDTH + width + 4:.1f}" y="{y + j * BAR_HEIGHT + 13}">{shown}</text>'
            )
    parts.append("</svg></figure>")
    return "".join(parts)


def _list_table(name: str, change: ListChange) -> str:
    if not change.changed:
        return f"<p>{escape(name)}: unchanged</p>"
    moved = ", ".join(f"{escape(m.keyword)} ({m.old_rank}&rarr;{m.new_rank})" for m in change.moved)
    return (
        f"<table><tr><th colspan=2>{escape(name)}</th></tr>"
        f'<tr><td>entered</td><td class="entered">{escape(", ".join(change.entered))}</td></tr>'
        f'<tr><td>left</td><td class="left">{escape(", ".join(change.left))}</td></tr>'
        f"<tr><td>moved</td><td>{moved}</td></tr></table>"
    )


def _customer_section(c: CustomerDiff) -> str:
    stability = "-" if c.stability is None else f"{c.stability:.3f}"
    metrics = "".join(
        f"<tr><td>{escape(m)}</td><td>{'-' if o is None else o}</td><td>{'-' if n is None else n}</td></tr>"
        for m, (o, n) in c.metrics.items()
    )
    out = [
        f'<section class="customer" id="customer-{escape(c.customer)}"><h2>{escape(c.customer)}: '
        f"{escape(c.status)}</h2>",
        f"<p>stability (mean overlap@10 over {c.prefixes_compared} prefixes): <b>{stability}</b></p>",
        "<table><tr><th></th><th>old</th><th>new</th></tr>"
        f"<tr><td>keywords</td><td>{c.keywords[0]}</td><td>{c.keywords[1]}</td></tr>{metrics}</table>",
    ]
    if c.status == "retrained":
        out += [_list_table("popular", c.popular), _list_table("trending", c.trending)]
        rows = "".join(
            f"<tr><td>{escape(p.prefix)}</td><td>{p.overlap:.2f}</td>"
            f'<td class="entered">{escape(", ".join(p.change.entered))}</td>'
            f'<td class="left">{escape(", ".join(p.change.left))}</td></tr>'
            for p in c.prefixes[:20]
        )
        if rows:
            out.append(
                "<table><tr><th>prefix</th><th>overlap@10</th><th>entered</th><th>left</th></tr>"
                f"{rows}</table>"
            )
    out.append("</section>")
    return "".join(out)


def render_page(diff: ReleaseDiff) -> str:
    # Reused customers (stability 1.0, nothing changed) are most of a fleet: named once, not charted.
    customers = diff.changed()
    reused = [c.customer for c in diff.customers if not c.changed]
    retrained = sorted(
        (c for c in customers if c.stability is not None), key=lambda c: (c.stability, c.customer)
    )
    stability_chart = _bars(
        "Stability per retrained customer, least stable first "
        "(mean overlap@10 of autocomplete over the most-typed prefixes)",
        [(c.customer, c.stability or 0.0, f"{c.stability:.2f}") for c in retrained],
        scale=1.0,
        chart_id="chart-stability",
    )
    keywords_chart = _paired_bars(
        "Keywords, old vs new",
        [(c.customer, _num(c.keywords[0]), _num(c.keywords[1])) for c in customers],
        "chart-keywords",
    )
    evaluated = any(v is not None for c in customers for v in c.metrics["mrr@10"])
    mrr_chart = _paired_bars(
        "Autocomplete MRR@10 (time split), old vs new",
        [(c.customer, *c.metrics["mrr@10"]) for c in customers],
        "chart-mrr",
    )
    movers = sorted(
        ((c.customer, p) for c in customers for p in c.prefixes), key=lambda cp: (cp[1].overlap, cp[0])
    )[:MOVERS]
    movers_chart = _bars(
        "Biggest movers: prefixes whose suggestions changed most (1 - overlap@10)",
        [(f"{c}: {p.prefix}", 1.0 - p.overlap, f"{1.0 - p.overlap:.2f}") for c, p in movers],
        scale=1.0,
        chart_id="chart-movers",
    )
    rules = "".join(f"<li>{escape(line)}</li>" for line in diff.rules)
    title = f"kwrec release review: {diff.old} -> {diff.new}"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>{len(diff.customers)} customers, {len(customers)} changed; "
        f"{diff.prefixes} most-typed prefixes (plus golden queries) compared per customer.</p>"
        f'<details id="reused"><summary>{len(reused)} reused (same artifact, stability 1.0)</summary>'
        f"{escape(', '.join(reused)) or 'none'}</details>"
        + (f"<h2>Live rules</h2><ul>{rules}</ul>" if rules else "")
        + stability_chart
        + (mrr_chart if evaluated else "<p>No MRR@10 recorded: both releases trained without evaluation.</p>")
        + keywords_chart
        + (movers_chart if movers else "<p>No prefix changed its suggestions.</p>")
        + "".join(_customer_section(c) for c in customers)
        + "</body></html>"
    )


def _num(value: int | None) -> float | None:
    return None if value is None else float(value)
