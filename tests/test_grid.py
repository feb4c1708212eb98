"""The run grid: whole pairs seed by seed, and an arm order that turns from one seed to the next, so that no arm is
always the first (colder, slower) run of its seed."""

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from mobilerepro.train.grid import run_grid


@dataclass(frozen=True)
class Settings:
    arm: str
    seed: int
    output_dir: str


def order_of(arms, seeds, tmp_path) -> list[tuple[str, int]]:
    trained = []
    run_grid(arms, seeds, lambda arm, seed: Settings(arm, seed, str(tmp_path / f"{arm}-{seed}")),
             lambda settings: trained.append((settings.arm, settings.seed)), progress=False)
    return trained


def test_the_arm_order_turns_by_one_from_seed_to_seed(tmp_path):
    assert order_of(["annealed", "constant"], [0, 1, 2], tmp_path) == [
        ("annealed", 0), ("constant", 0), ("constant", 1), ("annealed", 1), ("annealed", 2), ("constant", 2)]


@given(arms=st.lists(st.sampled_from("abcde"), min_size=1, max_size=5, unique=True),
       seeds=st.lists(st.integers(0, 99), min_size=1, max_size=12, unique=True))
def test_every_run_once_seed_by_seed_and_each_arm_first_about_equally_often(tmp_path_factory, arms, seeds):
    order = order_of(arms, seeds, tmp_path_factory.mktemp("grid"))
    assert sorted(order) == sorted((a, s) for a in arms for s in seeds)
    assert [s for _, s in order] == [s for s in seeds for _ in arms]
    firsts = [order[i * len(arms)][0] for i in range(len(seeds))]
    counts = [firsts.count(a) for a in arms]
    assert max(counts) - min(counts) <= 1
