"""The cross-hardware page: every machine's latency records side by side, with the papers' published devices.

This machine's records are its latency chapters' latest quick or full runs (`export_machine` writes them to one file
in the shared format, `measure.records`); another machine's come in through `records.import_machine`; a reference
run's machine (`reference`) is a machine of its own, `2-core Intel Xeon (reference)`, even where it is this very kind
of machine.

A column is one machine x runtime x precision x threads (`machines`: every imported machine and phone, and this
machine's chapter runs); a published column is a device the papers timed. The page shows each column's latency per
model (one row per column, a column per model), Spearman's rho between every two columns over the models both
timed, and a heat map of each model's latency relative to its column (the geometric mean of the models every column
shares), where a reader sees at a glance which models a machine favours.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mobilerepro import MobileReproError, dashboard, experiments, paper, reference
from mobilerepro.experiments._latency import LatencyExperiment
from mobilerepro.measure import records
from mobilerepro.measure.stats import spearman
from mobilerepro.report import save_figure
from mobilerepro.results import write_atomically

MIN_SHARED_MODELS = 3  # fewer shared models give no rank correlation worth showing


def _newest_records(runs: list[tuple[LatencyExperiment, Path]]) -> list[dict]:
    """The records of chapter runs (chapter, run folder); a model timed the same way by two chapters keeps the
    newer timing."""
    newest: dict[tuple, dict] = {}
    for chapter, folder in runs:
        for record in records.chapter_records(chapter.load(folder)):
            key = records.identity(record)
            if key not in newest or record["provenance"]["time"] > newest[key]["provenance"]["time"]:
                newest[key] = record
    return sorted(newest.values(), key=records.identity)


def local_records() -> list[dict]:
    """Every latency chapter's latest quick or full run on this machine as records (a smoke run's numbers mean
    nothing and never become records)."""
    runs = []
    for chapter in experiments.registry().values():
        summaries = [path for path in chapter.runs_here() if path.parent.name != "smoke"]
        if isinstance(chapter, LatencyExperiment) and summaries:
            runs.append((chapter, max(summaries, key=lambda path: path.stat().st_mtime).parent))
    return _newest_records(runs)


def reference_machines() -> dict[str, dict]:
    """Each reference run's machine with the records of its latency chapters, by `<its label> (reference)`."""
    by_machine: dict[str, tuple[dict, list]] = {}
    for chapter in experiments.registry().values():
        if isinstance(chapter, LatencyExperiment):
            for machine, folder in reference.runs(chapter):
                by_machine.setdefault(machine["id"], (machine, []))[1].append((chapter, folder))
    found = {}
    for machine, runs in by_machine.values():
        name = f"{reference.machine_label(machine)} (reference)"
        found[name] = {"format": records.FORMAT, "machine": {**machine, "id": name}, "records": _newest_records(runs)}
    return found


def export_machine(path: Path, *, who: str = "", name: str | None = None) -> dict:
    """Write this machine's records to `path` in the shared format; returns what was written."""
    found = local_records()
    if not found:
        raise MobileReproError("no latency chapter has run here yet: run one (e.g. `make replicate-table1`) first")
    payload = {"format": records.FORMAT, "machine": records.this_machine(who, name), "records": found}
    problems = records.problems_of(payload)
    if problems:  # what this checkout writes must pass its own check
        raise MobileReproError("the export does not pass its own check: " + problems[0])
    write_atomically(Path(path), json.dumps(payload, indent=1).encode())
    return payload


def machines() -> dict[str, dict]:
    """Every machine's records by machine id: every imported one's, the reference runs' and this one's (from its
    chapters' runs)."""
    found = {**records.imported_machines(), **reference_machines()}
    mine = local_records()
    if mine:
        here = records.this_machine()
        found[here["id"]] = {"format": records.FORMAT, "machine": here, "records": mine}
    return found


def column_name(machine: str, record: dict) -> str:
    runtime = record["runtime"]
    threads = f" {runtime['threads']}t" if runtime["threads"] else ""
    return f"{machine} · {runtime['backend']} {runtime['precision']}{threads}"


def latency_columns(found: dict[str, dict] | None = None) -> pd.DataFrame:
    """Latency (ms) per model (rows) and machine column, each record's own statistic (the chapters compare the
    minimum); where a machine timed a model under two protocols, the one with more runs."""
    found = machines() if found is None else found
    best: dict[tuple[str, str], dict] = {}
    for machine, payload in found.items():
        for record in payload["records"]:
            key = (record["model"], column_name(machine, record))
            if key not in best or record["result"]["n"] > best[key]["result"]["n"]:
                best[key] = record
    frame = pd.Series({key: records.compared_ms(r) for key, r in best.items()}, dtype=float)
    return frame.unstack() if len(frame) else pd.DataFrame()


def published_columns(models: list[str]) -> pd.DataFrame:
    """The papers' published latency (ms) of `models` per device, only the devices that have any of them."""
    published = paper.published_latencies(models, paper.devices())
    columns = {f"published · {paper.devices()[device]['text']}": {m: paper.value(e) for m, e in entries.items()}
               for device, entries in published.items() if entries}
    return pd.DataFrame(columns, index=models, dtype=float)


def agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rho between every two columns over the models both have (NaN under MIN_SHARED_MODELS)."""
    result = pd.DataFrame(np.nan, index=table.columns, columns=table.columns)
    for a in table.columns:
        for b in table.columns:
            both = table[a].notna() & table[b].notna()
            if both.sum() >= MIN_SHARED_MODELS:
                result.loc[a, b] = spearman(table.loc[both, a], table.loc[both, b])
    return result


def agreement_rows(table: pd.DataFrame, measured: list[str]) -> pd.DataFrame:
    """Spearman's rho of every measured column against every later measured column and every published one."""
    rho, rows = agreement(table), []
    for i, a in enumerate(measured):
        for b in [*measured[i + 1:], *(c for c in table.columns if c not in measured)]:
            shared = int((table[a].notna() & table[b].notna()).sum())
            rows.append({"column": a, "against": b, "shared models": shared, "Spearman ρ": rho.loc[a, b]})
    return pd.DataFrame.from_records(rows)


def relative_latency(measured: pd.DataFrame) -> pd.DataFrame:
    """Each model's latency over its column's geometric mean across the models every column timed."""
    shared = measured.dropna()
    if shared.empty:
        return pd.DataFrame()
    return measured / np.exp(np.log(shared).mean())


def figure(relative: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(relative.columns) + 3), 0.4 * len(relative) + 2.2),
                           constrained_layout=True)
    values = np.log2(relative.to_numpy(dtype=float))
    limit = max(1.0, float(np.nanmax(np.abs(values)))) if np.isfinite(values).any() else 1.0
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(relative.columns)), relative.columns, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(relative.index)), relative.index, fontsize=8)
    for (i, j), value in np.ndenumerate(relative.to_numpy(dtype=float)):
        if math.isfinite(value):
            dark = abs(math.log2(value)) > 0.6 * limit
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label="log2(latency / column mean)")
    ax.set_title("Each model's latency over its column's geometric mean\n"
                 "(red: slower than the column's average model, blue: faster)", fontsize=10)
    save_figure(fig, path)


def verdicts_by_machine() -> pd.DataFrame:
    """The latency chapters' verdicts, a row per claim and scope (the backend or model group it judged), a column per
    run that judged it: this machine's quick and full runs, each reference machine's; empty when none has run."""
    latency_chapters = {f"make replicate-{e.target}" for e in experiments.registry().values()
                        if isinstance(e, LatencyExperiment)}
    judged = dashboard.claims_table()
    judged = judged[judged.chapter.isin(latency_chapters) & (judged.profile != "") & (judged.scope != "")]
    if judged.empty:
        return pd.DataFrame()
    return judged.pivot_table(index=["claim", "scope"], columns="profile", values="status", aggfunc="first",
                              sort=False).fillna("—")


def _html(frame: pd.DataFrame, digits: int = 3, *, index: bool = True) -> str:
    """A table as HTML in the page, in a box that scrolls sideways rather than cut a wide table off."""
    styled = frame.style.format(lambda v: f"{v:.{digits}g}" if isinstance(v, float) else str(v), na_rep="—")
    if not index:
        styled = styled.hide(axis="index")
    return f'<div style="overflow-x: auto">\n\n{styled.to_html()}\n</div>'


def markdown(figure_path: Path) -> str:
    """The page; writes its figure to `figure_path` when there is something to draw."""
    found = machines()
    lines = ["# Machines side by side", "",
             "Every machine that ran the latency chapters is a row here: this machine's runs (quick and full "
             "profiles), the reference runs this project committed (*(reference)*) and every machine file imported "
             "with `python -m mobilerepro results import FILE`. Another "
             "machine writes its file with `python -m mobilerepro results export` after running the chapters; the "
             "format is `src/mobilerepro/measure/latency_records.schema.json`. A row is one machine, runtime, "
             "precision and thread count; the papers' published devices stand beside them.", ""]
    if not found:
        return "\n".join([*lines, "```{note}", "No latency chapter has run on the machine that built this book, and "
                          "no machine has been imported: `make replicate-table1` fills this page.", "```", ""])
    lines += ["## Machines", "", _html(pd.DataFrame.from_records([
        {"machine": machine, "CPU": p["machine"]["device"]["cpu"], "cores": p["machine"]["device"]["cores"] or "—",
         "OS": p["machine"]["device"]["os"], "accelerator": p["machine"]["device"]["accelerator"] or "—",
         "records": len(p["records"]), "who": p["machine"]["who"] or "—", "exported": p["machine"]["exported"]}
        for machine, p in found.items()]), index=False), ""]
    measured = latency_columns(found)
    table = measured.join(published_columns(list(measured.index)))
    lines += ["## Latency (ms)", "", "A row per column (machine x runtime, or a published device), a column per "
              "model: each machine's latency by its own protocol's statistic (the chapters here compare the minimum "
              "of their timed runs, MobileOne's protocol); the published rows are the papers' own numbers (their "
              "runtimes and precisions in the claims dashboard).", "",
              _html(table.T.rename_axis("column")), "",
              "## Rank agreement", "", f"Spearman's ρ between two columns over the models both have "
              f"(— under {MIN_SHARED_MODELS} shared models).", "",
              _html(agreement_rows(table, list(measured.columns)), 2, index=False), ""]
    verdicts = verdicts_by_machine()
    if not verdicts.empty:
        lines += ["## Verdicts per machine", "", "Each latency claim's verdict on each machine that judged it (this "
                  "machine's quick and full runs, every reference run): a row per claim and scope, the rule of each "
                  "in its chapter and the claims dashboard. Imported machines bring timings, not verdicts.", "",
                  _html(verdicts), ""]
    relative = relative_latency(measured)
    if not relative.empty:
        figure(relative, figure_path)
        lines += ["## Which models each machine favours", "", f"![relative latency per machine]({figure_path.name})",
                  ""]
    return "\n".join(lines)
