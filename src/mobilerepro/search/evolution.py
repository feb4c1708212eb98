"""OFA's evolutionary search (Cai et al., ICLR 2020, `EvolutionFinder`; its settings, with their provenance, in
`paper/nas.yaml`), over the genes of one stage of a search.

Each generation keeps the best `parent_ratio` of the population, then fills it up again with mutants of random
parents (`mutation_ratio` of it; each gene of the stage redrawn with `mutation_probability`) and with crossovers of
two random parents (each gene from either); a child that breaks the constraint is redrawn. Candidates are scored
once (the score function is cached by network), and the search counts how many distinct networks it scored and how
many it had to redraw.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from mobilerepro import MobileReproError
from mobilerepro.search.space import COARSE, FINE, Genes, SearchSpace, network_key

MAX_DRAWS = 200  # redraws of one child before the search says its constraint is too tight


@dataclass(frozen=True)
class EvolutionSettings:
    population: int
    generations: int
    parent_ratio: float
    mutation_ratio: float
    mutation_probability: float

    @classmethod
    def ofa(cls, **overrides) -> EvolutionSettings:
        """OFA's settings (`paper/nas.yaml`), any non-None override on top."""
        from mobilerepro import paper

        published = {name: paper.value(entry) for name, entry in paper.load("nas")["mini_nas"]["evolution"].items()}
        return cls(**{**published, **{k: v for k, v in overrides.items() if v is not None}})

    def __post_init__(self):
        if self.population < 4 or self.generations < 1:
            raise MobileReproError("an evolution needs a population of at least 4 and at least one generation")
        if not (0 < self.parent_ratio < 1 and 0 <= self.mutation_ratio <= 1 and 0 < self.mutation_probability <= 1):
            raise MobileReproError("parent ratio in (0, 1), mutation ratio in [0, 1], mutation probability in (0, 1]")


@dataclass
class Candidate:
    genes: Genes
    score: float


@dataclass
class SearchLog:
    """What one search did: the best score after each generation, distinct networks scored, constraint redraws."""

    best_per_generation: list[float] = field(default_factory=list)
    scored: int = 0
    redrawn: int = 0


class Evaluator:
    """Scores and constraint of networks, each computed once per distinct network."""

    def __init__(self, space: SearchSpace, score: Callable[[Genes], float], feasible: Callable[[Genes], bool],
                 scores: dict[tuple, float] | None = None):
        """`scores`: a cache to share with other searches whose score function is the same."""
        self.space, self._score, self._feasible = space, score, feasible
        self.scores: dict[tuple, float] = {} if scores is None else scores
        self.feasibility: dict[tuple, bool] = {}
        self.scored = 0  # networks this evaluator scored itself

    def feasible(self, genes: Genes) -> bool:
        key = network_key(self.space, genes)
        if key not in self.feasibility:
            self.feasibility[key] = self._feasible(genes)
        return self.feasibility[key]

    def score(self, genes: Genes) -> float:
        key = network_key(self.space, genes)
        if key not in self.scores:
            self.scores[key] = self._score(genes)
            self.scored += 1
        return self.scores[key]


def _draw(make: Callable[[], Genes], evaluator: Evaluator, log: SearchLog) -> Genes:
    for _ in range(MAX_DRAWS):
        genes = make()
        if evaluator.feasible(genes):
            return genes
        log.redrawn += 1
    raise MobileReproError(f"no network within the constraint after {MAX_DRAWS} draws: the budget is too tight for "
                           "this space")


def evolve(evaluator: Evaluator, start: Callable[[random.Random], Genes], mutable: set[str],
           settings: EvolutionSettings, rng: random.Random,
           progress: Callable[[], None] | None = None) -> tuple[list[Candidate], SearchLog]:
    """The final population, best first. `start(rng)` draws an initial network; only the genes in `mutable` change
    (the genes of this stage of the search). `progress`, if given, is called once per generation."""
    choices = evaluator.space.gene_choices()
    log = SearchLog()

    def mutate(parent: Genes) -> Genes:
        return {g: (rng.choice(choices[g]) if g in mutable and rng.random() < settings.mutation_probability else v)
                for g, v in parent.items()}

    def cross(a: Genes, b: Genes) -> Genes:
        return {g: (rng.choice((a[g], b[g])) if g in mutable else a[g]) for g in a}

    population = [_draw(lambda: start(rng), evaluator, log) for _ in range(settings.population)]
    ranked = sorted((Candidate(g, evaluator.score(g)) for g in population), key=lambda c: -c.score)
    parents_kept = max(2, round(settings.parent_ratio * settings.population))
    mutants = round(settings.mutation_ratio * settings.population)
    for _ in range(settings.generations):
        parents = ranked[:parents_kept]
        children = [_draw(lambda p=parents: mutate(rng.choice(p).genes), evaluator, log) for _ in range(mutants)]
        while len(parents) + len(children) < settings.population:
            children.append(_draw(lambda p=parents: cross(*(c.genes for c in rng.sample(p, 2))), evaluator, log))
        ranked = sorted(parents + [Candidate(g, evaluator.score(g)) for g in children], key=lambda c: -c.score)
        log.best_per_generation.append(ranked[0].score)
        if progress is not None:
            progress()
    log.scored = evaluator.scored
    return _distinct(evaluator, ranked), log


def random_search(evaluator: Evaluator, start: Callable[[random.Random], Genes], samples: int,
                  rng: random.Random) -> tuple[list[Candidate], SearchLog]:
    """`samples` networks drawn within the constraint, best first: the baseline every search must beat."""
    log = SearchLog()
    drawn = [_draw(lambda: start(rng), evaluator, log) for _ in range(samples)]
    ranked = sorted((Candidate(g, evaluator.score(g)) for g in drawn), key=lambda c: -c.score)
    log.best_per_generation.append(ranked[0].score)
    log.scored = evaluator.scored
    return _distinct(evaluator, ranked), log


def _distinct(evaluator: Evaluator, ranked: list[Candidate]) -> list[Candidate]:
    seen, kept = set(), []
    for candidate in ranked:
        key = network_key(evaluator.space, candidate.genes)
        if key not in seen:
            seen.add(key)
            kept.append(candidate)
    return kept


def staged_search(evaluator: Evaluator, settings: EvolutionSettings, rng: random.Random, *, two_stage: bool,
                  progress: Callable[[], None] | None = None) -> tuple[list[Candidate], SearchLog]:
    """One evolution over every gene, or MobileNetV4's two stages (§5) sharing the generations: the coarse genes
    with every block held at the space's fixed block, then the fine genes (the depthwise choices) on the coarse
    winner, the second stage's population starting from mutants of it."""
    space = evaluator.space
    if not two_stage:
        return evolve(evaluator, space.sample, set(space.gene_choices()), settings, rng, progress)
    genes = space.gene_choices()
    coarse, fine = ({g for g in genes if space.group(g) == group} for group in (COARSE, FINE))
    first = replace(settings, generations=max(1, settings.generations // 2))
    population, first_log = evolve(evaluator, lambda r: space.held_fine(space.sample(r)), coarse, first, rng,
                                   progress)
    winner = population[0].genes

    def on_winner(r: random.Random) -> Genes:
        # The coarse winner sits near the budget's edge: start from it, its depthwise choices mutated, rather than
        # from blocks drawn afresh (most of which an ExtraDW pushes over the budget).
        drawn = space.sample(r)
        return {g: (drawn[g] if g in fine and r.random() < settings.mutation_probability else v)
                for g, v in winner.items()}

    second = replace(settings, generations=max(1, settings.generations - first.generations))
    final, second_log = evolve(evaluator, on_winner, fine, second, rng, progress)
    return final, SearchLog(first_log.best_per_generation + second_log.best_per_generation,
                            second_log.scored, first_log.redrawn + second_log.redrawn)
