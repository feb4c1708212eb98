"""The latency predictor's timing set: networks timed one after the other on this machine's backends, each its
minimum over the plan's runs, with the predictor's features, cached line by line (an interrupted build continues
where it stopped). The networks: random ones of MobileNetV4's UIB space (`mobilenetv4.random_spec`, named
`uib_random_<seed>`), zoo models in inference form, and the unseen timm architectures no predictor learns from."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mobilerepro.measure import predictor as lp
from mobilerepro.measure.latency import TimingPlan
from mobilerepro.results import content_digest, read_line_cache, results_root

RANDOM_FAMILY = "random UIB"
UNSEEN_PREFIX = "unseen: "  # the family of an architecture from `unseen_models.yaml`


def cache_file(backends: list[str], plan: TimingPlan) -> Path:
    """The line-per-network file of this plan on this machine and these package versions."""
    from mobilerepro.measure.environment import environment_stamp

    stamp = environment_stamp(profile="cache", threads=plan.threads)
    key = {"backends": sorted(backends), "threads": plan.threads, "warmup": plan.warmup, "rounds": plan.rounds,
           "runs": plan.runs_per_round, "cpu": stamp["cpu"], "packages": stamp["packages"]}
    return results_root() / "latency_predictor_timings" / f"{content_digest(key)}.jsonl"


def network_record(name: str, family: str, model, input_size, backends: list[str], plan: TimingPlan) -> dict:
    """Features of one network and its minimum latency on every backend (None where it could not run)."""
    from mobilerepro.measure.complexity import layer_costs
    from mobilerepro.measure.latency import measure_latency

    feature = lp.features(layer_costs(model, input_size))
    latency = {m.backend: (min(m.samples_ms) if m.status == "ok" else None)
               for m in measure_latency({name: (model, input_size)}, backends, plan, progress=False)}
    return {"name": name, "family": family, "input": list(input_size), "features": feature, "latency_ms": latency}


def build_network(name: str, family: str):
    """A timing-set network in inference form and its input size: a random UIB one by its name, or a zoo model."""
    from mobilerepro.models import zoo
    from mobilerepro.models.mobilenetv4 import MobileNetV4, random_spec
    from mobilerepro.reparam import reparameterize_model

    if family == RANDOM_FAMILY:
        spec = random_spec(int(name.rsplit("_", 1)[1]))
        return MobileNetV4(spec).eval(), (3, spec.input_size, spec.input_size)
    if family.startswith(UNSEEN_PREFIX):
        import timm

        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False).eval()
        return model, tuple(model.pretrained_cfg.get("input_size", (3, 224, 224)))
    return reparameterize_model(zoo.build_model(name, seed=0)), zoo.get_spec(name).input_size


def timing_set(backends: list[str], plan: TimingPlan, random_networks: int, zoo_models: list[str],
               progress: bool = True, unseen: dict[str, str] | None = None) -> list[dict]:
    """The records of `random_networks` random UIB networks, of `zoo_models` and of the `unseen` architectures
    (timm name -> family), timing only those not cached."""
    from mobilerepro.models import zoo

    cache = cache_file(backends, plan)
    done = read_line_cache(cache, "name")
    wanted = [(f"uib_random_{i}", RANDOM_FAMILY) for i in range(random_networks)]
    wanted += [(name, zoo.get_spec(name).family) for name in zoo_models]
    wanted += [(name, UNSEEN_PREFIX + family) for name, family in (unseen or {}).items()]
    missing = [(name, family) for name, family in wanted if name not in done]
    with cache.open("a") as handle:
        for name, family in tqdm(missing, desc="timing set", unit="network", disable=not progress):
            model, size = build_network(name, family)
            done[name] = network_record(name, family, model, size, backends, plan)
            handle.write(json.dumps(done[name]) + "\n")
            handle.flush()
    return [done[name] for name, _ in wanted]
