"""A report section (Markdown, tables and figures, shown in order) and the display helpers every topic uses.

Figures are numbered in the order a notebook shows them ("Figure N: caption"), with alt text in the HTML;
:func:`plural` and :func:`span` keep template artefacts ("1 risk(s)", "3,281–3,281 ms") out of the text.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import math
from dataclasses import dataclass, field

import pandas as pd
from IPython.display import HTML, Markdown, display
from matplotlib.figure import Figure

from analysis import plots

_figure_numbers = itertools.count(1)


@dataclass
class Captioned:
    """A figure with its caption and alt text (the text a screen reader or a text-only export shows)."""

    figure: Figure
    caption: str
    alt: str = ""

    def alt_text(self) -> str:
        """The given alt text, else one built from the figure's titles and axis labels."""
        if self.alt:
            return self.alt
        parts = []
        for ax in self.figure.axes:
            bits = [ax.get_title(), f"x: {ax.get_xlabel()}" if ax.get_xlabel() else "",
                    f"y: {ax.get_ylabel()}" if ax.get_ylabel() else ""]
            parts.append(", ".join(b for b in bits if b))
        return "Chart. " + "; ".join(p for p in parts if p)

    def html(self, number: int) -> str:
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=plots.REPORT_STYLE["savefig.dpi"])
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        return (f'<figure class="rcap-figure"><img src="data:image/png;base64,{data}" '
                f'alt="{html.escape(self.alt_text(), quote=True)}"/>'
                f"<figcaption><b>Figure {number}:</b> {html.escape(self.caption)}</figcaption></figure>")


def figure_title(fig: Figure) -> str:
    """The figure's title (its first axes' title), the default caption of a figure added without one."""
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    return titles[0] if titles else "Figure"


@dataclass
class Section:
    """One part of a notebook: Markdown paragraphs, tables (DataFrames) and figures, shown in order.

    ``values`` keeps the section's key numbers (with units in their names) for the summary and tests.
    """

    items: list = field(default_factory=list)
    values: dict = field(default_factory=dict)

    def md(self, text: str) -> "Section":
        self.items.append(text)
        return self

    def add(self, item) -> "Section":
        if isinstance(item, Figure):
            item = Captioned(item, figure_title(item))
        if item is not None:
            self.items.append(item)
        return self

    def figure(self, fig: Figure, caption: str, alt: str = "") -> "Section":
        """Add a figure with its caption (numbered when shown) and alt text."""
        self.items.append(Captioned(fig, caption, alt))
        return self

    @property
    def figures(self) -> list:
        return [i.figure for i in self.items if isinstance(i, Captioned)]

    @property
    def captions(self) -> list[str]:
        return [i.caption for i in self.items if isinstance(i, Captioned)]

    @property
    def tables(self) -> list:
        return [i for i in self.items if isinstance(i, pd.DataFrame)]

    def show(self) -> None:
        """Display every item (in a notebook)."""
        for item in self.items:
            if isinstance(item, Captioned):
                display(HTML(item.html(next(_figure_numbers))))
            else:
                display(Markdown(item) if isinstance(item, str) else item)


def notebook_setup() -> None:
    """Figures in the report's style; tables shown whole (no truncated cells, every row); figure
    numbers start at 1."""
    global _figure_numbers
    _figure_numbers = itertools.count(1)
    plots.use_report_style()
    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.max_columns", 50)


def table(rows, index: str | None = None):
    """A DataFrame for display: ``rows`` is a list of dicts or a dict of label → value."""
    if isinstance(rows, dict):
        df = pd.DataFrame({"": list(rows.keys()), "value": [fmt(v) for v in rows.values()]}).set_index("")
        df.index.name = None
        return df
    df = pd.DataFrame(rows)
    return df.set_index(index) if index and index in df else df


def fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "—"  # a missing figure, never "nan"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x) for x in v)
    return str(v)


def plural(n: float, singular: str, plural_form: str | None = None, number: str = "{:,.0f}") -> str:
    """``plural(1, "risk")`` → ``'1 risk'``, ``plural(3, "risk")`` → ``'3 risks'``: never "risk(s)"."""
    word = singular if round(float(n), 9) == 1 else (plural_form or singular + "s")
    return f"{number.format(n)} {word}"


def span(values, number: str = "{:,.0f}", unit: str = "") -> str:
    """``[3100, 3281]`` → ``'3,100–3,281 ms'`` with ``unit=" ms"``; one value (or equal ones once
    formatted) → ``'3,281 ms'``: never a one-value range."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "—"
    lo, hi = number.format(min(vals)), number.format(max(vals))
    return f"{lo}{unit}" if lo == hi else f"{lo}–{hi}{unit}"


def target_label(target) -> str:
    """How the report names the target: its ``description``, else "Target '<name>'"."""
    desc = (getattr(target, "description", "") or "").strip()
    return desc if desc else f"Target '{target.name}'"
