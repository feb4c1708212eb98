"""A latency-aware mini-NAS over MobileNetV4's UIB space, on this machine's target backend.

1. **Latency model.** The project's latency predictor (`measure.predictor`, the layer model) fitted on random UIB
   networks timed on the target backend (`measure.timing_set`), and fed by a lookup table of network parts
   (`search.lookup`); checked at the end against the measured latency of every finalist.
2. **Budget.** A reference network's latency on the target (MnasNet's target was MobileNetV2's latency), timed and
   cached with the timing set so that a rerun searches under the same budget, and, for the FLOPs-constrained
   search, its MACs: the FLOPs budget a designer would read off the same reference. Whether a finalist breaks the
   budget is judged against the reference timed again beside the finalists.
3. **Accuracy proxy.** A zero-cost proxy (`search.proxies`) computed on a batch of the training images, checked
   against the reduced-scale trained accuracy of every network this chapter trains, next to #params and MACs.
4. **Searches** (`search.evolution`, OFA's evolution; MobileNetV4's two-stage order): latency-aware, FLOPs-
   constrained and random under the same budget and the same number of scored networks, and the readings of
   MobileNetV4 Tab. 4 (one stage) and Tab. 1 (IB-only and ConvNext-like-only spaces).
5. **Finalists** timed on the target, then trained on CIFAR-10 at 32 px over seeds (`train.grid`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mobilerepro import MobileReproError
from mobilerepro.data import resolve
from mobilerepro.experiments._base import BaseConfig, Experiment, Outcome, Result
from mobilerepro.experiments._training_ablation import CIFAR10, REDUCED_SCALE, check_data
from mobilerepro.measure import predictor as lp
from mobilerepro.measure.latency import CPU_BACKENDS, TimingPlan, measure_latency
from mobilerepro.measure.stats import paired_by_seed, spearman_with_ci
from mobilerepro.measure.timing_set import build_network, timing_set
from mobilerepro.models import zoo
from mobilerepro.models.mobilenetv4 import MobileNetV4, spec_table
from mobilerepro.report import save_figure
from mobilerepro.results import content_digest, results_root
from mobilerepro.search import lookup, proxies
from mobilerepro.search.evolution import Evaluator, EvolutionSettings, random_search, staged_search
from mobilerepro.search.space import get_space
from mobilerepro.train import trainer
from mobilerepro.train.grid import run_grid
from mobilerepro.verdicts import NotTestable, contrast_evidence

RECIPE = "nas_finalist_reduced"
TRAIN_SIZE = 32  # CIFAR-10's own resolution: the proxy and the training see what the trainer feeds
PROXY_IMAGES = 64


@dataclass(frozen=True)
class Search:
    """One search of the chapter: its space, what bounds it (predicted latency or MACs), its algorithm, and whether
    its finalists are trained for the main comparison or for a reading of a MobileNetV4 table."""

    name: str
    label: str
    space: str
    constraint: str  # latency | macs
    algorithm: str  # two-stage | one-stage | random
    role: str  # main | reading


SEARCHES = (
    Search("latency_aware", "latency-aware (predictor), two-stage", "uib", "latency", "two-stage", "main"),
    Search("flops_constrained", "FLOPs-constrained, two-stage", "uib", "macs", "two-stage", "main"),
    Search("random", "random within the latency budget", "uib", "latency", "random", "main"),
    Search("one_stage", "latency-aware, one stage (Tab. 4)", "uib", "latency", "one-stage", "reading"),
    Search("ib_only", "latency-aware, IB-only space (Tab. 1)", "ib", "latency", "two-stage", "reading"),
    Search("convnext_only", "latency-aware, ConvNext-like-only space (Tab. 1)", "convnext", "latency", "two-stage",
           "reading"),
)
BY_NAME = {search.name: search for search in SEARCHES}
# Each claim's comparisons: the latency-aware search (its finalists, or its winner `#1`) against the others'.
COMPARISONS = (("latency_aware_at_least_as_accurate", "latency_aware", ("flops_constrained", "random")),
               ("two_stage_more_accurate", "latency_aware#1", ("one_stage#1",)),
               ("uib_space_more_accurate", "latency_aware#1", ("ib_only#1", "convnext_only#1")))


@dataclass(frozen=True)
class MiniNasConfig(BaseConfig):
    target: str = "onnxruntime"  # the backend whose latency the search keeps within budget
    reference: str = "mobilenet_v2"  # the budget: this zoo model's latency on the target and its MACs
    proxy: str = "naswot"
    # The evolution; None: OFA's settings (paper/nas.yaml).
    population: int | None = None
    generations: int | None = None
    parent_ratio: float | None = None
    mutation_ratio: float | None = None
    mutation_probability: float | None = None
    finalists: int = 3
    seeds: list[int] | None = None
    proxy_sample: int = 3  # random networks of the space trained (first seed) for the proxy's check
    readings: bool = True  # also train the winners of the Tab. 1 and Tab. 4 searches
    timing_networks: int = 60  # random UIB networks timed on the target to fit the predictor
    threads: int = 1  # timing
    train_threads: int = 2
    warmup: int = 2
    rounds: int = 3
    runs_per_round: int = 3
    epochs: int = 4
    batch_size: int = 64
    per_class_limit: int | None = 100
    data: str = CIFAR10
    search_seed: int = 0


def load_images(config: MiniNasConfig):
    """The proxy's batch: `PROXY_IMAGES` training images drawn with the search seed, as the evaluator sees them."""
    import torch

    from mobilerepro.data.datasets import ImageDataset, open_samples
    from mobilerepro.data.transforms import EvalTransform

    samples = open_samples(resolve(config.data))
    picked = random.Random(config.search_seed).sample(range(len(samples.samples)), PROXY_IMAGES)
    subset = type(samples)([samples.samples[i] for i in picked], samples.classes, samples.source, samples.layout)
    dataset = ImageDataset(subset, EvalTransform(TRAIN_SIZE, 1.0).build())
    return torch.stack([dataset[i][0] for i in range(len(dataset))]), len(samples.classes)


def training_config(config: MiniNasConfig, spec, seed: int, progress: bool) -> trainer.TrainConfig:
    """The reduced-scale run of one network and seed; its folder is the digest of everything that shapes it (the
    same network found by two searches is trained once)."""
    shaping = {"model": "mnv4_searched", "architecture": spec_table(spec), "recipe": RECIPE,
               "train_data": str(resolve(config.data).resolve()), "val_fraction": REDUCED_SCALE.val_fraction,
               "per_class_limit": config.per_class_limit, "epochs": config.epochs, "batch_size": config.batch_size,
               "crop_scale": REDUCED_SCALE.crop_scale, "eval_crop_pct": REDUCED_SCALE.eval_crop_pct, "seed": seed}
    return trainer.TrainConfig(output_dir=str(results_root() / "training_runs" / f"nas-{content_digest(shaping)}"),
                               device="cpu", threads=config.train_threads, progress=progress, **shaping)


def describe(spec) -> str:
    """A network in one line: stem, widths and depths, and the kinds of its UIB blocks."""
    stages = spec.stages[1:-1]
    kinds = pd.Series([row.kind for stage in stages for row in stage]).value_counts()
    return (f"stem {spec.stem_channels}, widths {'/'.join(str(s[0].channels) for s in stages)}, depths "
            f"{'/'.join(str(len(s)) for s in stages)}; " + ", ".join(f"{n} {k}" for k, n in kinds.items()))


def _number(value) -> str:
    """Two decimals, or 'undefined' for a value the result file holds as null (a rank correlation of constants)."""
    return "undefined" if value is None or not np.isfinite(value) else f"{value:.2f}"


class MiniNasResult(Result):
    sections = {
        "searches": ("The searches",
            "Each search under the same budget: what bounds it, how many networks it scored, and what its "
            "finalists measure on the target backend (those above the reference's latency break the budget)."),
        "finalists": ("Finalists",
            "Every finalist: MACs and parameters at 224 px, proxy score, predicted and measured latency on the "
            "target, and reduced-scale top-1 (mean over seeds)."),
        "proxy_check": ("Does the proxy rank trained accuracy?",
            "Spearman ρ of each proxy with the reduced-scale top-1 of every network trained here, with a bootstrap "
            "95 % interval: the zero-cost proxy next to the trivial baselines, #params and MACs."),
        "contrasts": ("The comparisons, paired by seed",
            "Each claim's comparison as measured, top-1 points with a Student-t 95 % interval over the seeds — shown "
            "whether or not the verdict could be drawn from it."),
        "predictor_check": ("Does the predictor hold on the finalists?",
            "The latency predictor against the measured latency of every finalist (nn-Meter's ±10 % metric), as "
            "fitted and rescaled by how much the reference's latency moved since the timing set was taken."),
    }
    terminal_tables = ("searches", "proxy_check")

    def searches_table(self) -> pd.DataFrame:
        frame = self.rows
        records = []
        for entry in self.summary["searches"]:
            rows = frame[frame.search == entry["name"]]
            records.append({"search": entry["label"], "constraint": entry["constraint"],
                            "networks scored": entry["scored"], "redrawn (constraint)": entry["redrawn"],
                            "best proxy": rows.proxy_score.max(), "finalists": len(rows),
                            "measured ms (median of finalists)": rows.measured_ms.median(),
                            "break the latency budget": int(rows.breaks_budget.sum()),
                            "top-1 mean of finalists": rows.top1_mean.mean()})
        return pd.DataFrame.from_records(records)

    def finalists_table(self) -> pd.DataFrame:
        """One row per finalist, narrow enough for a book page (every column is in the CSV)."""
        rows = self.rows
        top1 = [f"{m:.1f} ± {s:.1f}" if n > 1 else "—"
                for m, s, n in zip(rows.top1_mean, rows.top1_std, rows.seeds, strict=True)]
        return pd.DataFrame({"search": rows.search, "#": rows["rank"], "network": rows.network,
                             "MACs (M)": rows.macs_m, "proxy": rows.proxy_score, "predicted ms": rows.predicted_ms,
                             "measured ms": rows.measured_ms, "over budget": rows.breaks_budget,
                             "top-1 (%, seeds)": top1})

    def proxy_check_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["proxy_check"])

    def contrasts_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records([
            {"claim": c["claim"], "comparison": f"{c['first']} {c['scope']}", "seeds": c.get("seeds", 0),
             "top-1 difference": c.get("difference"), "95 % CI low": c.get("ci_low"),
             "95 % CI high": c.get("ci_high"), "p": c.get("p_value")} for c in self.summary["contrasts"]])

    def predictor_check_table(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["predictor_check"])

    def exercise_estimate(self, quantity: dict):
        """`budget_share`: a search's finalists' latency over the reference's timed beside them (the median
        finalist's p10-p90 midpoint over the reference's, within the range the finalists' and the reference's
        spreads allow); `proxy_rho`: a proxy's rank correlation with the trained top-1, with its bootstrap
        interval."""
        from mobilerepro.exercises import Estimate

        if quantity.get("name") == "budget_share":
            rows, budget = self.rows[self.rows.search == quantity["search"]], self.summary["budget"]
            if rows.empty:
                raise MobileReproError(f"no finalists of the search {quantity['search']!r} in this run")
            reference = (budget["reference_p10_ms"] + budget["reference_p90_ms"]) / 2
            return Estimate(((rows.p10_ms + rows.p90_ms) / 2).median() / reference,
                            rows.p10_ms.min() / budget["reference_p90_ms"],
                            rows.p90_ms.max() / budget["reference_p10_ms"],
                            f"the {BY_NAME[quantity['search']].label} finalists' latency as a share of the budget")
        if quantity.get("name") == "proxy_rho":
            row = next((r for r in self.summary["proxy_check"] if r["proxy"] == quantity["proxy"]), None)
            if row is None or row["ci_low"] is None:
                raise MobileReproError(f"no rank correlation of {quantity['proxy']} was measured in this run")
            return Estimate(row["rho"], row["ci_low"], row["ci_high"],
                            f"ρ({quantity['proxy']}, trained top-1) over {row['networks']} networks")
        return super().exercise_estimate(quantity)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"searches": self.searches_table(), "finalists": self.finalists_table(),
                "proxy_check": self.proxy_check_table(), "contrasts": self.contrasts_table(),
                "predictor_check": self.predictor_check_table()}

    def setup_lines(self) -> list[str]:
        p, budget = self.summary["parameters"], self.summary["budget"]
        return [f"target {p['target']} ({p['threads']} thread); budget: {p['reference']} measured "
                f"{budget['latency_ms']:.2f} ms and {budget['macs_m']:.0f} M MACs",
                f"proxy {p['proxy']} on {PROXY_IMAGES} training images at {TRAIN_SIZE} px; evolution: population "
                f"{p['population']}, {p['generations']} generations, parent ratio {p['parent_ratio']}, mutation "
                f"ratio {p['mutation_ratio']}, mutation probability {p['mutation_probability']}",
                f"predictor: {self.summary['predictor']['timed']} random UIB networks timed on {p['target']}",
                f"training: {p['finalists']} finalists per search x seeds {p['seeds']}, {p['epochs']} epochs, "
                f"{p['per_class_limit']} images per class, recipe {RECIPE} (paper/recipes.yaml)"]

    def summary_numbers(self) -> list[str]:
        numbers = [f"{row['search']}: best proxy {row['best proxy']:.4g}, {row['break the latency budget']} of "
                   f"{row['finalists']} finalists over the latency budget, top-1 "
                   f"{_number(row['top-1 mean of finalists'])} %"
                   for row in self.searches_table().to_dict(orient="records")]
        for row in self.summary["proxy_check"]:
            numbers.append(f"ρ({row['proxy']}, trained top-1) {_number(row['rho'])} [{_number(row['ci_low'])}, "
                           f"{_number(row['ci_high'])}] over {row['networks']} networks")
        for check in self.summary["predictor_check"]:
            numbers.append(f"predictor ({check['predictor']}) on the finalists: {check['within_10_percent']:.0%} "
                           f"within ±10 %, RMSPE {check['rmspe_percent']:.1f} %")
        return numbers + [line for line in self.setup_lines()[:1]]


class MiniNas(Experiment):
    title = "A latency-aware mini-NAS over MobileNetV4's UIB space"
    description = "latency-aware vs FLOPs-constrained vs random evolutionary search on this machine's predictor, " \
                  "a zero-cost proxy checked against trained CIFAR-10 accuracy, finalists trained over seeds"
    config_type = MiniNasConfig
    result_type = MiniNasResult
    datasets = (CIFAR10,)
    profiles = {
        "smoke": {"population": 8, "generations": 2, "finalists": 1, "seeds": [0, 1], "proxy_sample": 1,
                  "timing_networks": 8, "warmup": 1, "rounds": 1, "runs_per_round": 2, "epochs": 1,
                  "per_class_limit": 10, "batch_size": 16, "readings": True},
        # Quick: OFA's ratios over a fortieth of its generations, about 10 minutes on a 2-core laptop.
        "quick": {"population": 40, "generations": 10, "seeds": [0, 1, 2], "readings": True},
        "full": {"seeds": [0, 1, 2, 3, 4], "finalists": 5, "proxy_sample": 10, "readings": True,
                 "timing_networks": 200, "epochs": 30, "per_class_limit": None, "rounds": 5, "runs_per_round": 5},
    }

    def validate(self, config: MiniNasConfig) -> MiniNasConfig:
        from dataclasses import replace

        if config.target not in CPU_BACKENDS:
            raise MobileReproError(f"target must be one of this machine's backends ({', '.join(CPU_BACKENDS)}), "
                                   f"got {config.target!r}")
        if config.proxy not in proxies.PROXIES:
            raise MobileReproError(f"proxy must be one of {', '.join(proxies.PROXIES)}, got {config.proxy!r}")
        if not config.seeds or len(config.seeds) < 1:
            raise MobileReproError("at least one seed is needed")
        if config.finalists < 1 or config.timing_networks < 4:
            raise MobileReproError("at least one finalist and four timed networks (the predictor's fit) are needed")
        evolution = EvolutionSettings.ofa(population=config.population, generations=config.generations,
                                          parent_ratio=config.parent_ratio, mutation_ratio=config.mutation_ratio,
                                          mutation_probability=config.mutation_probability)
        return replace(config, reference=zoo.get_spec(config.reference).name, seeds=[int(s) for s in config.seeds],
                       **vars(evolution))

    def threads(self, config: MiniNasConfig) -> int:
        return config.threads

    def plan(self, config: MiniNasConfig) -> TimingPlan:
        return TimingPlan(config.warmup, config.rounds, config.runs_per_round, config.threads, config.search_seed)

    def measure(self, config: MiniNasConfig, directory: Path, progress: bool) -> Outcome:
        check_data(config)
        plan = self.plan(config)
        # The reference is timed with the timing set and cached with it: a rerun searches under the same budget, so
        # it finds the same finalists and reuses their training.
        *records, reference = timing_set([config.target], plan, config.timing_networks, [config.reference],
                                         progress)
        records = [r for r in records if r["latency_ms"].get(config.target)]
        if len(records) < 4 or not reference["latency_ms"].get(config.target):
            missing = "" if reference["latency_ms"].get(config.target) else f", and not {config.reference}"
            raise MobileReproError(f"{config.target} timed {len(records)} random networks{missing}: the predictor "
                                   "needs four, the budget the reference")
        predictor = lp.fit(config.target, "layers", [r["features"] for r in records],
                           [r["latency_ms"][config.target] for r in records])
        budget = {"latency_ms": reference["latency_ms"][config.target], "macs_m": reference["features"]["gmacs"] * 1e3}
        images, classes = load_images(config)
        found, logs = self.search(config, predictor, budget, images, classes, progress)
        networks = {f"{name}#{rank}": spec for name, ranked in found.items()
                    for rank, (spec, _) in enumerate(ranked, 1)}
        reference_model = build_network(config.reference, zoo.get_spec(config.reference).family)
        timed = self.time_networks(config, {config.reference: reference_model,
                                            **{key: (MobileNetV4(spec).eval(), (3, spec.input_size, spec.input_size))
                                               for key, spec in networks.items()}})
        runs, interrupted = self.train(config, found, progress)
        rows = self.network_rows(config, found, predictor, timed, runs)
        proxy_check, proxy_rows = self.proxy_check(config, runs, images, classes)
        predicted, measured = rows.predicted_ms.to_numpy(), rows.measured_ms.to_numpy()
        drift = timed[config.reference]["min"] / budget["latency_ms"]
        summary = {
            "budget": {**budget, "latency_ms_at_the_end": timed[config.reference]["min"],
                       "reference_p10_ms": timed[config.reference]["p10"],
                       "reference_p90_ms": timed[config.reference]["p90"]},
            "predictor": {"timed": len(records), "coefficients": predictor.coefficients},
            # The machine's speed drifts between the timing set and this run: the reference, timed in both, gives the
            # factor (a one-point recalibration, LitePred's idea); the raw check stays beside it.
            "predictor_check": [
                {"predictor": "as fitted", "finalists": len(rows), **lp.scores(predicted, measured)},
                {"predictor": "rescaled by the reference's drift", "finalists": len(rows),
                 "factor": drift, **lp.scores(predicted * drift, measured)}],
            "searches": logs, "proxy_check": proxy_check, "proxy_sample": proxy_rows,
            "runs": runs.drop(columns=["spec"]).to_dict(orient="records") if len(runs) else [],
            "interrupted": interrupted, "parts_in_lookup_table": lookup.cached_parts(),
        }
        summary["contrasts"] = self.contrasts(runs)
        return Outcome(rows, summary, self.evidence(summary["contrasts"], proxy_check, config.proxy))

    # -- steps -------------------------------------------------------------------------------------------------------
    def time_networks(self, config: MiniNasConfig, models: dict) -> dict[str, dict]:
        """Min, p10 and p90 (ms) of every network on the target, in one interleaved run."""
        measured = {}
        for m in measure_latency(models, [config.target], self.plan(config), progress=False):
            if m.status != "ok":
                raise MobileReproError(f"{m.model} did not run on {config.target}: {m.reason}")
            low, high = np.percentile(m.samples_ms, [10, 90])
            measured[m.model] = {"min": min(m.samples_ms), "p10": float(low), "p90": float(high)}
        return measured

    def search(self, config: MiniNasConfig, predictor, budget: dict, images, classes: int, progress: bool):
        """Every search's finalists (spec, proxy score), best first, and its log."""
        import torch

        # The proxies' forward passes are small: one thread, so that a busy machine (a second process on the other
        # core) slows the search by its share of the CPU rather than by two threads spinning over one core.
        torch.set_num_threads(1)
        settings = EvolutionSettings(config.population, config.generations, config.parent_ratio,
                                     config.mutation_ratio, config.mutation_probability)  # validate filled them in
        shared_scores: dict[tuple, float] = {}
        found, logs, main_scored = {}, [], None
        bar = tqdm(total=len(SEARCHES), desc="searches", unit="search", disable=not progress)
        for search in SEARCHES:
            space = get_space(search.space)

            def feasible(genes, space=space, search=search) -> bool:
                features = lookup.features(space.spec(genes))
                if search.constraint == "macs":
                    return features["gmacs"] * 1e3 <= budget["macs_m"]
                return predictor.predict(features) <= budget["latency_ms"]

            def score(genes, space=space) -> float:
                macs = lookup.features(space.spec(genes))["gmacs"]
                return proxies.score(config.proxy, space.spec(genes, TRAIN_SIZE), images, macs, classes,
                                     config.search_seed)

            evaluator = Evaluator(space, score, feasible, shared_scores)
            rng = random.Random(config.search_seed)
            if search.algorithm == "random":
                ranked, log = random_search(evaluator, space.sample, main_scored or settings.population, rng)
            else:
                ranked, log = staged_search(evaluator, settings, rng, two_stage=search.algorithm == "two-stage")
            if search.name == "latency_aware":
                main_scored = max(log.scored, settings.population)  # the random search's equal budget
            found[search.name] = [(space.spec(c.genes), c.score) for c in ranked[:config.finalists]]
            logs.append({"name": search.name, "label": search.label, "space": search.space,
                         "constraint": search.constraint, "algorithm": search.algorithm, "role": search.role,
                         "scored": log.scored, "redrawn": log.redrawn, "best_per_generation": log.best_per_generation})
            bar.update()
        bar.close()
        return found, logs

    def trained(self, config: MiniNasConfig, found: dict) -> list[tuple[str, object]]:
        """(arm, spec) of every network trained over all seeds: each main search's finalists and, with `readings`,
        each reading search's winner."""
        arms = [(f"{name}#{rank}", spec) for name, ranked in found.items() if BY_NAME[name].role == "main"
                for rank, (spec, _) in enumerate(ranked, 1)]
        if config.readings:
            arms += [(f"{name}#1", ranked[0][0]) for name, ranked in found.items() if BY_NAME[name].role == "reading"]
        return arms

    def proxy_sample(self, config: MiniNasConfig) -> list[tuple[str, object]]:
        space = get_space("uib")
        rng = random.Random(config.search_seed + 1)
        return [(f"sample#{i + 1}", space.spec(space.sample(rng))) for i in range(config.proxy_sample)]

    def train(self, config: MiniNasConfig, found: dict, progress: bool) -> tuple[pd.DataFrame, str | None]:
        records, interrupted = [], None
        for arms, seeds in ((self.trained(config, found), config.seeds),
                            (self.proxy_sample(config), config.seeds[:1])):
            specs = dict(arms)
            if interrupted:
                break
            done, interrupted = run_grid(
                specs, seeds, lambda arm, seed, specs=specs: training_config(config, specs[arm], seed, progress),
                lambda settings: trainer.train(settings, resume=True), progress=progress,
                describe=lambda arm, seed: f"[{self.id}] training {arm}, seed {seed}")
            records += [{"arm": run.arm, "seed": run.seed, "top1": run.run.final["val_top1"],
                         "train_seconds": run.run.history.seconds.sum(), "reused": run.reused,
                         "run": run.settings.output_dir, "spec": specs[run.arm]} for run in done]
        return pd.DataFrame.from_records(records, columns=["arm", "seed", "top1", "train_seconds", "reused", "run",
                                                           "spec"]), interrupted

    def network_rows(self, config, found, predictor, timed, runs: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for name, ranked in found.items():
            for rank, (spec, proxy_score) in enumerate(ranked, 1):
                key = f"{name}#{rank}"
                features = lookup.features(spec)
                top1 = runs[runs.arm == key].top1 if len(runs) else pd.Series(dtype=float)
                rows.append({"search": name, "search_label": BY_NAME[name].label, "rank": rank,
                             "network": describe(spec), "macs_m": features["gmacs"] * 1e3,
                             "params_m": sum(p.numel() for p in MobileNetV4(spec).parameters()) / 1e6,
                             "proxy_score": proxy_score, "predicted_ms": predictor.predict(features),
                             "measured_ms": timed[key]["min"], "p10_ms": timed[key]["p10"],
                             "p90_ms": timed[key]["p90"],
                             "breaks_budget": bool(timed[key]["min"] > timed[config.reference]["min"]),
                             "top1_mean": top1.mean() if len(top1) else np.nan,
                             "top1_std": top1.std() if len(top1) > 1 else np.nan, "seeds": len(top1),
                             "architecture": spec_table(spec)})
        return pd.DataFrame.from_records(rows)

    def proxy_check(self, config: MiniNasConfig, runs: pd.DataFrame, images, classes: int):
        """Every proxy against the mean trained top-1 of every network trained here."""
        if runs.empty:
            return [], []
        networks = runs.groupby("arm").agg(top1=("top1", "mean"), spec=("spec", "first")).reset_index()
        scored = []
        for _, network in networks.iterrows():
            macs = lookup.features(network.spec)["gmacs"]
            scores = {proxy: proxies.score(proxy, network.spec, images, macs, classes, config.search_seed)
                      for proxy in proxies.PROXIES}
            scored.append({"network": network.arm, "top1": network.top1, **scores})
        frame = pd.DataFrame.from_records(scored)
        check = []
        for proxy in proxies.PROXIES:
            if len(frame) < 3:
                break
            found = spearman_with_ci(frame[proxy], frame.top1)
            check.append({"proxy": proxy, "networks": found.n, "rho": found.rho, "ci_low": found.ci_low,
                          "ci_high": found.ci_high, "used by the searches": proxy == config.proxy})
        return check, scored

    def contrasts(self, runs: pd.DataFrame) -> list[dict]:
        """Every comparison the claims make, paired by seed: a search's finalists (mean over them per seed) or a
        reading's winner against the latency-aware two-stage search's winner. A comparison whose networks were not
        trained has no difference."""
        per_search = runs.assign(search=runs.arm.str.split("#").str[0]) if len(runs) else runs
        found = []
        for claim, first, others in COMPARISONS:
            for other in others:
                record = {"claim": claim, "first": first, "other": other,
                          "scope": f"vs {BY_NAME[other.split('#')[0]].label}"}
                if "#" in first:
                    frame = runs
                else:
                    frame = per_search[per_search.search.isin((first, other))].groupby(
                        ["search", "seed"]).top1.mean().reset_index().rename(columns={"search": "arm"})
                if not frame.empty and {first, other} <= set(frame.arm):
                    record.update(paired_by_seed(frame, "top1", first, other))
                found.append(record)
        return found

    def evidence(self, contrasts: list[dict], proxy_check: list[dict], proxy: str) -> list:
        """A search finds a more accurate network only as far as what it optimises tracks accuracy: with the proxy's
        rank correlation with trained accuracy not shown positive here, every comparison is not testable, with that
        reason (its difference stays in the table)."""
        used = next((row for row in proxy_check if row["proxy"] == proxy), None)
        gate = None
        if used is None or not (used["ci_low"] is not None and used["ci_low"] > 0):
            shown = (f"ρ {_number(used['rho'])} [{_number(used['ci_low'])}, {_number(used['ci_high'])}] over "
                     f"{used['networks']} trained networks" if used else "not measured (fewer than 3 trained)")
            gate = (f"the searches maximise {proxy}, whose rank correlation with the trained top-1 here is {shown}: "
                    "not shown positive, so a difference in the finalists' accuracy cannot be laid to the search")
        evidence = []
        for c in contrasts:
            if "difference" not in c:
                reason = ("the winners of the Tab. 1 and Tab. 4 searches were not trained (`readings: false`)"
                          if "#" in c["first"] else "the finalists' training did not finish in this run")
                evidence.append((c["claim"], c["scope"], NotTestable(reason)))
            elif gate:
                evidence.append((c["claim"], c["scope"], NotTestable(gate, c["seeds"])))
            else:
                evidence.append((c["claim"], c["scope"], contrast_evidence(c)))
        return evidence

    def figure(self, result: MiniNasResult, path: Path) -> None:
        """Left: proxy score against trained top-1 of every trained network. Right: measured latency on the target
        against trained top-1 of the finalists, per search, with the latency budget."""
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
        sample = pd.DataFrame.from_records(result.summary["proxy_sample"])
        proxy = result.summary["parameters"]["proxy"]
        if not sample.empty:
            left.scatter(sample[proxy], sample.top1, color="#1565c0")
            for _, row in sample.iterrows():
                left.annotate(row.network, (row[proxy], row.top1), fontsize=6, xytext=(3, 3),
                              textcoords="offset points")
        used = next((row for row in result.summary["proxy_check"] if row["proxy"] == proxy), None)
        rho = (f" (ρ {_number(used['rho'])} [{_number(used['ci_low'])}, {_number(used['ci_high'])}])" if used else "")
        left.set(xlabel=f"{proxy} score at initialisation", ylabel="reduced-scale top-1 (%), mean over seeds",
                 title=f"The search's proxy against trained accuracy{rho}")
        left.grid(alpha=0.3)
        trained = result.rows[result.rows.top1_mean.notna()]
        for index, (name, group) in enumerate(trained.groupby("search", sort=False)):
            right.errorbar(group.measured_ms, group.top1_mean, yerr=group.top1_std.fillna(0), fmt="o",
                           color=f"C{index}", label=BY_NAME[name].label, capsize=3)
        right.axvline(result.summary["budget"]["latency_ms_at_the_end"], color="black", ls="--", lw=1,
                      label=f"budget: {result.summary['parameters']['reference']}")
        right.set(xlabel=f"measured latency on {result.summary['parameters']['target']} (ms, 224 px)",
                  ylabel="reduced-scale top-1 (%), mean ± std over seeds",
                  title="Trained finalists of each search against the latency budget")
        right.legend(fontsize=7)
        right.grid(alpha=0.3)
        save_figure(fig, path)


EXPERIMENT = MiniNas()
