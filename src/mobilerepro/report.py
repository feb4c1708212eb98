"""Reporting: published-vs-measured tables, verdicts, summary boxes and figures, shared by every chapter."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogFormatter  # noqa: E402

from mobilerepro.verdicts import (  # noqa: E402
    HELD,
    INCONCLUSIVE,
    NOT_ENOUGH_DATA,
    NOT_HELD,
    NOT_TESTABLE,
    Verdict,
)

_PLAIN_NUMBER = FuncFormatter(lambda value, _: f"{value:g}")

# Verbal scale for |rho| (Evans 1996, "Straightforward statistics for the behavioral sciences"): the paper says
# "moderate" and "weak" without numbers, so we state which conventional bands we read those words as.
STRENGTH_BANDS = (
    (0.2, "very weak"),
    (0.4, "weak"),
    (0.6, "moderate"),
    (0.8, "strong"),
    (float("inf"), "very strong"),
)
STRENGTH_ORDER = [label for _, label in STRENGTH_BANDS]

def strength(rho: float) -> str:
    """Verbal strength of a correlation coefficient (sign ignored)."""
    magnitude = abs(rho)
    for upper, label in STRENGTH_BANDS:
        if magnitude < upper:
            return label
    return STRENGTH_BANDS[-1][1]


_VERDICT_COLOURS = {HELD: "#2e7d32", NOT_HELD: "#c62828", INCONCLUSIVE: "#ef6c00", NOT_ENOUGH_DATA: "#8d6e63",
                    NOT_TESTABLE: "#616161"}


def summary_box(title: str, verdicts: list[Verdict], numbers: list[str], environment: str) -> str:
    """HTML summary box (claim · our number · verdict · environment) that renders as an admonition in the book
    and as plain HTML in Jupyter. Verdicts on the same claim share a row, one cell per scope (e.g. backend)."""
    scopes = list(dict.fromkeys(v.scope for v in verdicts))
    claims = list(dict.fromkeys(v.claim_id for v in verdicts))
    by_key = {(v.claim_id, v.scope): v for v in verdicts}
    rows = []
    for claim_id in claims:
        first = next(v for v in verdicts if v.claim_id == claim_id)
        cells = []
        for scope in scopes:
            v = by_key.get((claim_id, scope))
            cells.append(
                "<td></td>" if v is None else
                f"<td>{html.escape(v.ours)}<br><b style='color:{_VERDICT_COLOURS.get(v.verdict, '#000')}'>"
                f"{html.escape(v.verdict)}</b>{_evidence_rows(v)}</td>"
            )
        rows.append(
            f"<tr><td>{html.escape(first.claim)} <em>({html.escape(first.provenance)})</em></td>{''.join(cells)}</tr>"
        )
    header = "".join(f"<th>{html.escape(scope)}</th>" for scope in scopes)
    bullet_list = "".join(f"<li>{html.escape(item)}</li>" for item in numbers)
    return (
        "<div class='admonition tip summary-box'>"
        f"<p class='admonition-title'>{html.escape(title)}</p>"
        f"<ul>{bullet_list}</ul>"
        f"<table><thead><tr><th>paper's claim</th>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<p><small>Environment: {html.escape(environment)}</small></p>"
        "</div>"
    )


def _evidence_rows(verdict: Verdict) -> str:
    """A machine's verdict: its backends' evidence, one small line each."""
    if not verdict.rows:
        return ""
    items = "".join(f"<li>{html.escape(row['scope'])}: {html.escape(row['ours'])} — {html.escape(row['verdict'])}</li>"
                    for row in verdict.rows)
    return f"<ul><small>{items}</small></ul>"


def verdict_lines(verdicts: list[Verdict]) -> list[str]:
    """Plain-text verdicts for the terminal: each claim tested once, then one line per scope (and a machine's
    verdict its backends' evidence below it)."""
    lines = []
    for claim_id in dict.fromkeys(v.claim_id for v in verdicts):
        judged = [v for v in verdicts if v.claim_id == claim_id]
        lines.append(f"- {judged[0].claim} ({judged[0].provenance})")
        for v in judged:
            lines.append(f"    [{v.verdict:>17}] {v.scope}: {v.ours}")
            lines += [f"        {row['scope']}: {row['ours']} — {row['verdict']}" for row in v.rows]
    return lines


def family_colours(families: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(families) <= 10 else "tab20")
    return {family: cmap(i % cmap.N) for i, family in enumerate(families)}


def scatter_grid(
    frame: pd.DataFrame,
    *,
    y: str,
    xs: list[tuple[str, str]],
    panel: str,
    label: str,
    colour_by: str,
    y_label: str,
    titles: dict[str, str] | None = None,
):
    """One row of log-log scatter panels per value of `panel`, one column per (column, axis label) in `xs`;
    points labelled by `label` and coloured by `colour_by`."""
    panels = list(dict.fromkeys(frame[panel]))
    colours = family_colours(list(dict.fromkeys(frame[colour_by])))
    fig, axes = plt.subplots(
        len(panels), len(xs), figsize=(6.2 * len(xs), 4.6 * len(panels)), squeeze=False, constrained_layout=True
    )
    for row, panel_value in enumerate(panels):
        subset = frame[frame[panel] == panel_value]
        for col, (x, x_label) in enumerate(xs):
            ax = axes[row][col]
            for group, points in subset.groupby(colour_by, sort=False):
                ax.scatter(points[x], points[y], color=colours[group], label=group, s=28, zorder=3)
            for _, point in subset.iterrows():
                ax.annotate(
                    point[label], (point[x], point[y]), fontsize=6.5, xytext=(3, 2), textcoords="offset points"
                )
            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.xaxis, ax.yaxis):
                axis.set_major_formatter(_PLAIN_NUMBER)
                axis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1.2, 0.6)))
            ax.tick_params(which="minor", labelsize=7)
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
            ax.grid(True, which="both", alpha=0.25)
            ax.set_title((titles or {}).get((panel_value, x), str(panel_value)), fontsize=10)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 6), fontsize=8)
    return fig


def save_figure(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def html_table(frame: pd.DataFrame):
    """A DataFrame for notebooks and the book: no index column, no trailing zeros."""
    return frame.style.hide(axis="index").format(precision=2, na_rep="—")


def terminal_table(frame: pd.DataFrame, float_format: str = "{:.3g}") -> str:
    return frame.to_string(index=False, float_format=lambda v: float_format.format(v), na_rep="—")
