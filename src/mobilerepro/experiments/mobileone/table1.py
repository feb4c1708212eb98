"""MobileOne Tab. 1: how well do MACs and parameter count rank the latency of efficient models?

The paper (§3.1, Tab. 1) exports recent efficient models from PyTorch through ONNX to Core ML, times them on an
iPhone 12 and on a desktop CPU, and reports Spearman's rank correlation of latency with FLOPs (= MACs) and with
parameter count: moderate with FLOPs and weak with params on mobile, even lower on a desktop CPU.

Here every zoo model is reparameterised to its inference form, counted and timed on every backend this machine has.
Spearman's rho per backend comes with a 95 % percentile bootstrap CI over models (and rho(MACs) - rho(params) with a
paired bootstrap CI, shown but not judged: the paper claims no ordering on a desktop). A CPU backend here is a
desktop CPU, so it tests the desktop claims; the mobile claims need a phone's latencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mobilerepro import MobileReproError, paper
from mobilerepro.experiments._latency import (
    MIN_RANKED_MODELS,
    Candidate,
    LatencyConfig,
    LatencyExperiment,
    LatencyResult,
    ranked_population,
    ratio_claim_evidence,
    timing_profiles,
    zoo_candidate,
)
from mobilerepro.measure.latency import DESKTOP_BACKENDS
from mobilerepro.measure.stats import paired_difference_ci, spearman_with_ci
from mobilerepro.models import zoo
from mobilerepro.report import save_figure, scatter_grid, strength
from mobilerepro.verdicts import Interval, NotTestable


@dataclass(frozen=True)
class Table1Config(LatencyConfig):
    models: list[str] | None = None
    bootstrap_resamples: int = 2000


def format_rho(corr: dict) -> str:
    return f"ρ = {corr['rho']:.2f} [{corr['ci_low']:.2f}, {corr['ci_high']:.2f}] ({strength(corr['rho'])})"


def correlation_row(label: str, corr: dict) -> dict:
    return {
        "backend": label, "models": corr["n_models"],
        "ρ latency–MACs [95% CI]": format_rho(corr["macs"]),
        "ρ latency–params [95% CI]": format_rho(corr["params"]),
        "ρ(MACs) − ρ(params)": "{value:+.2f} [{ci_low:+.2f}, {ci_high:+.2f}]".format(**corr["macs_minus_params"]),
        "noisy timings": len(corr["unstable_models"]),
    }


class Table1Result(LatencyResult):
    terminal_tables = ("correlations",)

    def correlation_table(self) -> pd.DataFrame:
        """One row per backend (a backend that measured nothing says why), then the same over the 224-px models."""
        records = []
        for entry in self.summary["backends"]:
            backend = entry["backend"]
            corr = self.summary["correlations"].get(backend)
            if corr is None:
                reason = entry["reason"] if not entry["available"] else f"fewer than {MIN_RANKED_MODELS} models timed"
                records.append({"backend": backend, "models": 0, "ρ latency–MACs [95% CI]": f"not measured: {reason}"})
                continue
            records.append(correlation_row(backend, corr))
        records += [correlation_row(f"{backend}, 224 px models only", corr)
                    for backend, corr in self.summary.get("correlations_224px", {}).items()]
        return pd.DataFrame.from_records(records).fillna("")

    def latency_table(self) -> pd.DataFrame:
        """One row per model: params, MACs, and the chosen statistic per measured backend ('⚠': too noisy)."""
        rows = self.rows[self.rows.backend.isin(self.measured_backends())].copy()
        rows["cell"] = [f"{getattr(r, self.stat_column):.2f}" + (" ⚠" if r.unstable else "") if r.status == "ok"
                        else r.status for r in rows.itertuples()]
        wide = rows.pivot(index="model", columns="backend", values="cell")
        meta = self.rows.drop_duplicates("model").set_index("model")[["family", "input_size", "params", "macs"]]
        table = meta.join(wide[self.measured_backends()])
        table["params"] = (table.params / 1e6).round(2)
        table["macs"] = (table.macs / 1e6).round(1)
        table = table.rename(columns={"params": "params (M)", "macs": "MACs (M)", "input_size": "input"})
        return table.sort_values("MACs (M)").reset_index()

    def exercise_estimate(self, quantity: dict):
        """`rho`: Spearman's ρ of latency on `backend` with `against` (macs | params), over the whole zoo or its
        224-px models (`subset`), with its bootstrap interval."""
        from mobilerepro.exercises import Estimate

        if quantity.get("name") != "rho":
            return super().exercise_estimate(quantity)
        subset = quantity.get("subset", "all")
        found = self.summary["correlations" if subset == "all" else "correlations_224px"].get(quantity["backend"])
        if not found or quantity["against"] not in found:
            raise MobileReproError(f"no correlation on {quantity['backend']} in this run")
        rho = found[quantity["against"]]
        models = "the 224-px models" if subset != "all" else "the whole zoo"
        return Estimate(rho["rho"], rho["ci_low"], rho["ci_high"],
                        f"ρ(latency, {quantity['against']}) on {quantity['backend']} over {models}")

    def tables(self) -> dict[str, pd.DataFrame]:
        return {**super().tables(), "correlations": self.correlation_table(), "latency": self.latency_table()}

    def summary_numbers(self) -> list[str]:
        return [f"{backend} ({corr['n_models']} models, {self.statistic} latency): latency–MACs "
                f"{format_rho(corr['macs'])}; latency–params {format_rho(corr['params'])}"
                for backend, corr in self.summary["correlations"].items()]


def rank_correlations(ok: pd.DataFrame, config: Table1Config) -> dict:
    """Per backend with enough timed models: Spearman ρ of latency with MACs and with params (bootstrap CIs) and
    their paired difference."""
    correlations = {}
    for backend, group in ok.groupby("backend", sort=False):
        if len(group) < MIN_RANKED_MODELS:
            continue
        kwargs = {"resamples": config.bootstrap_resamples, "seed": config.seed}
        latency = group[config.statistic_column].to_numpy()
        difference = paired_difference_ci(latency, group.macs.to_numpy(), group.params.to_numpy(), **kwargs)
        correlations[backend] = {
            "n_models": int(len(group)),
            "unstable_models": sorted(group[group.unstable].model),
            "macs": spearman_with_ci(latency, group.macs.to_numpy(), **kwargs).as_dict(),
            "params": spearman_with_ci(latency, group.params.to_numpy(), **kwargs).as_dict(),
            "macs_minus_params": dict(zip(("value", "ci_low", "ci_high"), difference, strict=True)),
        }
    return correlations


MOBILE_FORMER_ABSENT = ("Mobile-Former is in neither timm nor torchvision, and its architecture table is not among "
                        "this project's sources (shared PAPERS.md), so it cannot be built faithfully here")


def headline_evidence(frame: pd.DataFrame) -> list:
    """Tab. 9's headline comparisons as latency ratios per desktop-CPU backend (`ratio_evidence`)."""
    evidence = []
    for claim, pair in paper.load("mobileone")["table1"]["headline_pairs"].items():
        candidate, reference = pair["candidate"], pair["reference"]
        if reference not in zoo.model_names():
            evidence.append((claim, "any backend", NotTestable(MOBILE_FORMER_ABSENT)))
            continue
        evidence += ratio_claim_evidence(claim, frame, "model", candidate, reference)
    return evidence


class Table1(LatencyExperiment):
    title = "MobileOne Table 1 — do MACs or parameters rank latency?"
    description = "Spearman rho of latency vs MACs and vs params over the zoo, per backend"
    config_type = Table1Config
    result_type = Table1Result
    profiles = timing_profiles(
        smoke={"models": ["mobilenet_v3_small", "shufflenet_v2_1_0", "mobileone_s0", "mobilevit_xxs"],
               "rounds": 2, "runs_per_round": 2, "bootstrap_resamples": 200},
        quick={"models": None, "rounds": 15, "runs_per_round": 5, "bootstrap_resamples": 2000},
        full={"models": None, "rounds": 20, "runs_per_round": 50, "bootstrap_resamples": 10000},
        litert=True,
    )

    def validate(self, config: Table1Config) -> Table1Config:
        models = ranked_population(config.models or zoo.model_names(), "Table 1")
        return super().validate(Table1Config(**{**config.as_dict(), "models": models}))

    def candidates(self, config: Table1Config) -> list[Candidate]:
        def meta(spec) -> dict:
            return {"family": spec.family, "source": spec.source, "input_size": "x".join(map(str, spec.input_size[1:])),
                    **{f"published_{k}": paper.value(spec.published.get(k)) for k in ("top1", "params_m", "macs_m")}}

        return [zoo_candidate(name, config.seed, meta(zoo.get_spec(name))) for name in config.models]

    def analyse(self, config: Table1Config, frame: pd.DataFrame, prepared: dict, peaks):
        ok = frame[frame.status == "ok"]
        correlations = rank_correlations(ok, config)
        # The zoo mixes input sizes (224, 256, 384 px); the models at the paper's 224 px alone, reported beside.
        subset = rank_correlations(ok[ok.input_size == "224x224"], config)
        return {"correlations": correlations, "correlations_224px": subset,
                "mac_convention": "multiply-accumulates of conv, linear and attention matmuls; batch 1; inference form",
                }, self.evidence(correlations) + headline_evidence(frame)

    @staticmethod
    def evidence(correlations: dict) -> list:
        """Desktop claims on each desktop-CPU backend; the mobile claims need a phone (none is measured here)."""
        evidence = [(claim, "phone", NotTestable("no phone latencies here (this machine's backends are a desktop "
                                                  "CPU's)")) for claim in ("mobile_macs", "mobile_params")]
        for backend, corr in correlations.items():
            for claim, quantity in (("desktop_macs_lower", "macs"), ("desktop_params_lower", "params")):
                c = corr[quantity]
                if backend in DESKTOP_BACKENDS:
                    evidence.append((claim, backend, Interval(c["rho"], c["ci_low"], c["ci_high"], c["n"],
                                                              f"{format_rho(c)} over {c['n']} models")))
                else:
                    reason = f"{backend} is not one of the desktop CPU runtimes the claim is about"
                    evidence.append((claim, backend, NotTestable(reason)))
        return evidence

    def figure(self, result: Table1Result, path: Path) -> None:
        correlations = result.summary["correlations"]
        ok = result.ok()
        ok = ok[ok.backend.isin(list(correlations))]
        ok = ok.assign(**{"MACs (M)": ok.macs / 1e6, "params (M)": ok.params / 1e6})
        titles = {}
        for backend, corr in correlations.items():
            titles[(backend, "MACs (M)")] = f"{backend}: latency vs MACs, ρ = {corr['macs']['rho']:.2f}"
            titles[(backend, "params (M)")] = f"{backend}: latency vs params, ρ = {corr['params']['rho']:.2f}"
        fig = scatter_grid(ok, y=result.stat_column, xs=[("MACs (M)", "MACs (M, log)"),
                                                          ("params (M)", "parameters (M, log)")],
                           panel="backend", label="model", colour_by="family",
                           y_label=f"{result.statistic} latency (ms, log)", titles=titles)
        save_figure(fig, path)


EXPERIMENT = Table1()
