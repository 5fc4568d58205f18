"""A report section (Markdown, tables and figures, shown in order) and the display helpers every topic uses."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from analysis import plots


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
        if item is not None:
            self.items.append(item)
        return self

    @property
    def figures(self) -> list:
        return [i for i in self.items if isinstance(i, Figure)]

    @property
    def tables(self) -> list:
        return [i for i in self.items if isinstance(i, pd.DataFrame)]

    def show(self) -> None:
        """Display every item (in a notebook)."""
        for item in self.items:
            display(Markdown(item) if isinstance(item, str) else item)


def notebook_setup() -> None:
    """Figures in the report's style; tables shown whole (no truncated cells, every row)."""
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
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x) for x in v)
    return str(v)
