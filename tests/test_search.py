"""The mini-NAS's library: search spaces as genes, the lookup table of parts, the proxies and OFA's evolution."""

import itertools
import math
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mobilerepro import MobileReproError
from mobilerepro.measure import predictor as lp
from mobilerepro.measure.complexity import layer_costs
from mobilerepro.models.mobilenetv4 import (
    SPECS,
    UIB_SPACE,
    MobileNetV4,
    random_spec,
    spec_from_table,
    spec_table,
)
from mobilerepro.search import lookup, proxies
from mobilerepro.search.evolution import Evaluator, EvolutionSettings, evolve, random_search, staged_search
from mobilerepro.search.space import COARSE, FINE, SPACES, get_space, network_key

SPACE_NAMES = sorted(SPACES)


def evolution(population: int, generations: int) -> EvolutionSettings:
    """OFA's ratios (paper/nas.yaml) over a small population and few generations."""
    return EvolutionSettings.ofa(population=population, generations=generations)


def whole_network_features(spec):
    return lp.features(layer_costs(MobileNetV4(spec).eval(), (3, spec.input_size, spec.input_size)))


def assert_same_features(table, whole):
    for name in lookup.ADDITIVE:
        assert math.isclose(table[name], whole[name], rel_tol=1e-9, abs_tol=1e-12), name
    assert table["layer_macs"] == whole["layer_macs"] and table["layer_bytes"] == whole["layer_bytes"]


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 10_000))
def test_the_lookup_table_gives_the_whole_networks_features(seed):
    spec = random_spec(seed)
    assert_same_features(lookup.features(spec), whole_network_features(spec))


@pytest.mark.parametrize("name", ["conv_s", "hybrid_m"])
def test_the_lookup_table_holds_for_the_papers_models_attention_included(name):
    spec = SPECS[name]
    assert_same_features(lookup.features(spec), whole_network_features(spec))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(SPACE_NAMES), st.integers(0, 10_000))
def test_every_drawn_network_is_in_its_space_and_strided_blocks_carry_a_depthwise(space_name, seed):
    space = get_space(space_name)
    spec = space.spec(space.sample(random.Random(seed)))
    uib_stages = spec.stages[1:-1]
    assert len(uib_stages) == len(UIB_SPACE.stage_widths)
    for stage, widths, (low, high) in zip(uib_stages, UIB_SPACE.stage_widths, UIB_SPACE.stage_depths, strict=True):
        assert low <= len(stage) <= high and stage[0].channels in widths
        assert stage[0].stride == 2 and all(row.stride == 1 for row in stage[1:])
        assert stage[0].start_kernel or stage[0].middle_kernel
        for row in stage:
            assert (row.start_kernel, row.middle_kernel) in space.kernel_pairs
            assert row.expansion in UIB_SPACE.expansions


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(SPACE_NAMES), st.integers(0, 10_000))
def test_an_inactive_block_does_not_change_the_network_and_held_blocks_are_the_fixed_one(space_name, seed):
    space = get_space(space_name)
    genes = space.sample(random.Random(seed))
    stage = next((s for s in range(3) if genes[f"s{s}_depth"] < UIB_SPACE.stage_depths[s][1]), None)
    if stage is not None:
        inactive = f"s{stage}_b{UIB_SPACE.stage_depths[stage][1] - 1}_expansion"
        other = next(v for v in UIB_SPACE.expansions if v != genes[inactive])
        assert network_key(space, {**genes, inactive: other}) == network_key(space, genes)
    held = space.spec(space.held_fine(genes))
    assert {(row.start_kernel, row.middle_kernel) for stage in held.stages[1:-1] for row in stage} == {
        space.fixed_pair}


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000))
def test_a_spec_survives_its_table(seed):
    spec = random_spec(seed)
    assert spec_from_table(spec_table(spec)) == spec


def test_the_restricted_spaces_are_what_mnv4_tab1_compares():
    assert all(start == 0 and middle for start, middle in get_space("ib").kernel_pairs)
    assert all(start and middle == 0 for start, middle in get_space("convnext").kernel_pairs)
    assert len(get_space("uib").kernel_pairs) == len(UIB_SPACE.depthwise_kernels) ** 2
    with pytest.raises(MobileReproError, match="unknown search space"):
        get_space("resnet")


# The evolution on a toy problem: the score is the network's total width, the constraint a cap on its depth.
def toy_evaluator(space_name="uib", cap=12):
    space = get_space(space_name)

    def score(genes):
        return sum(genes[f"s{s}_width"] for s in range(3)) + genes["stem"]

    def feasible(genes):
        return sum(genes[f"s{s}_depth"] for s in range(3)) <= cap

    return Evaluator(space, score, feasible)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 1000))
def test_evolution_keeps_its_best_and_every_member_within_the_constraint(seed):
    evaluator = toy_evaluator()
    space = evaluator.space
    final, log = evolve(evaluator, space.sample, set(space.gene_choices()), evolution(12, 6),
                        random.Random(seed))
    assert all(a <= b for a, b in itertools.pairwise(log.best_per_generation))
    assert all(evaluator.feasible(c.genes) for c in final)
    assert [c.score for c in final] == sorted((c.score for c in final), reverse=True)
    assert len({network_key(space, c.genes) for c in final}) == len(final)
    assert log.scored == len(evaluator.scores)


def test_evolution_finds_the_toy_optimum_that_a_random_draw_rarely_hits():
    evaluator = toy_evaluator()
    space = evaluator.space
    best = max(UIB_SPACE.stem_widths) + sum(max(w) for w in UIB_SPACE.stage_widths)
    final, _ = evolve(evaluator, space.sample, set(space.gene_choices()), evolution(40, 30),
                      random.Random(0))
    assert final[0].score == best


def test_a_two_stage_search_changes_only_its_stages_genes():
    evaluator = toy_evaluator()
    space = evaluator.space
    final, log = staged_search(evaluator, evolution(8, 4), random.Random(1), two_stage=True)
    # The second stage starts from the coarse winner: every finalist shares its coarse genes.
    coarse = [{g: v for g, v in c.genes.items() if space.group(g) == COARSE} for c in final]
    assert all(c == coarse[0] for c in coarse)
    assert len(log.best_per_generation) == 4


def test_the_coarse_stage_holds_every_block_at_the_fixed_pair():
    evaluator = toy_evaluator("convnext")
    space = evaluator.space
    coarse = {g for g in space.gene_choices() if space.group(g) == COARSE}
    final, _ = evolve(evaluator, lambda r: space.held_fine(space.sample(r)), coarse, evolution(8, 3),
                      random.Random(2))
    for candidate in final:
        assert all(v == space.fixed_pair for g, v in candidate.genes.items() if space.group(g) == FINE)


def test_random_search_and_an_impossible_budget():
    evaluator = toy_evaluator()
    final, log = random_search(evaluator, evaluator.space.sample, 10, random.Random(0))
    assert log.scored == len(evaluator.scores) <= 10 and final[0].score == max(c.score for c in final)
    with pytest.raises(MobileReproError, match="too tight"):
        random_search(toy_evaluator(cap=0), evaluator.space.sample, 2, random.Random(0))
    with pytest.raises(MobileReproError, match="population"):
        evolution(2, 1)


def test_naswot_scores_images_it_can_tell_apart_above_copies_of_one_image():
    spec = SPECS["conv_s"]
    torch.manual_seed(0)
    distinct = torch.randn(8, 3, 32, 32)
    same = distinct[:1].repeat(8, 1, 1, 1)
    apart = proxies.score("naswot", spec, distinct, 0.0, 10)
    copies = proxies.score("naswot", spec, same, 0.0, 10)
    assert math.isfinite(apart) and apart > copies


def test_the_other_proxies_and_a_wrong_name():
    spec = SPECS["conv_s"]
    images = torch.randn(4, 3, 32, 32)
    model = MobileNetV4(spec, num_classes=10)
    assert proxies.score("params", spec, images, 0.0, 10) == sum(p.numel() for p in model.parameters())
    assert proxies.score("macs", spec, images, 123.0, 10) == 123.0
    assert math.isfinite(proxies.score("synflow", spec, images, 0.0, 10))
    assert proxies.score("synflow", spec, images, 0.0, 10) == proxies.score("synflow", spec, images, 0.0, 10)
    with pytest.raises(MobileReproError, match="unknown proxy"):
        proxies.score("zen", spec, images, 0.0, 10)


def test_the_trainer_builds_a_table_as_the_network_it_describes(tmp_path):
    from mobilerepro.models import zoo
    from mobilerepro.train import trainer

    spec = random_spec(7)
    config = trainer.TrainConfig(output_dir=str(tmp_path), train_data=str(tmp_path), model="searched",
                                 architecture=spec_table(spec), recipe="nas_finalist_reduced", seed=3)
    built = trainer.build_network(config, 10)
    expected = zoo.seeded(MobileNetV4, 3, spec=spec, num_classes=10)
    assert built.training and built.spec == spec
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), expected.state_dict().values(),
                                                   strict=True))


def constructed_runs(drop: tuple[str, ...] = ()):
    """Top-1 per arm and seed: the latency-aware finalists 2 and 4 points above every other arm's, by seed."""
    import pandas as pd

    base = {0: 20.0, 1: 23.0, 2: 21.0}
    records = [{"arm": arm, "seed": seed, "top1": base[seed] + bonus}
               for arm, bonus in (("latency_aware#1", 2.0), ("latency_aware#2", 4.0), ("flops_constrained#1", 0.0),
                                  ("random#1", 0.0), ("one_stage#1", 0.0), ("ib_only#1", 0.0),
                                  ("convnext_only#1", 0.0))
               if arm not in drop for seed in base]
    return pd.DataFrame.from_records(records)


def test_the_mini_nas_comparisons_are_paired_by_seed_and_judged_only_when_the_proxy_tracks_accuracy():
    from mobilerepro.experiments.nas.mini_nas import EXPERIMENT
    from mobilerepro.verdicts import Interval, NotTestable

    contrasts = {(c["claim"], c["other"]): c for c in EXPERIMENT.contrasts(constructed_runs())}
    # The search's finalists are averaged per seed before pairing: (2 + 4) / 2 points above.
    assert contrasts[("latency_aware_at_least_as_accurate", "flops_constrained")]["difference"] == pytest.approx(3.0)
    assert contrasts[("two_stage_more_accurate", "one_stage#1")]["difference"] == pytest.approx(2.0)
    assert all(c["seeds"] == 3 for c in contrasts.values())
    tracking = [{"proxy": "naswot", "rho": 0.8, "ci_low": 0.3, "ci_high": 0.95, "networks": 12}]
    judged = EXPERIMENT.evidence(list(contrasts.values()), tracking, "naswot")
    assert len(judged) == 5 and all(isinstance(ev, Interval) and ev.low > 0 for _, _, ev in judged)
    not_tracking = [{**tracking[0], "ci_low": -0.2}]
    gated = EXPERIMENT.evidence(list(contrasts.values()), not_tracking, "naswot")
    assert all(isinstance(ev, NotTestable) and "not shown positive" in ev.reason for _, _, ev in gated)


def test_a_comparison_whose_networks_were_not_trained_says_so():
    from mobilerepro.experiments.nas.mini_nas import EXPERIMENT
    from mobilerepro.verdicts import NotTestable

    contrasts = EXPERIMENT.contrasts(constructed_runs(drop=("one_stage#1",)))
    tracking = [{"proxy": "naswot", "rho": 0.8, "ci_low": 0.3, "ci_high": 0.95, "networks": 12}]
    evidence = {(claim, scope): ev for claim, scope, ev in EXPERIMENT.evidence(contrasts, tracking, "naswot")}
    untrained = [ev for (claim, _), ev in evidence.items() if claim == "two_stage_more_accurate"]
    assert len(untrained) == 1 and isinstance(untrained[0], NotTestable) and "not trained" in untrained[0].reason
