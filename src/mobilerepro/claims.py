"""Claims as data: every statement a chapter judges, read from the paper data files (`mobilerepro/paper/*.yaml`).

A data file that opens with a `paper:` header (its id, e.g. `mobileone`) holds sections (`table1`, `table7`, ...);
a section's `claims:` maps a name to a claim::

    desktop_macs_lower:
      where: "Tab. 1, §3.1"
      text: "On a desktop CPU the correlation is even lower than on mobile."   # the paper's words (or close)
      provenance: claim
      tested_as: "ρ(latency, MACs) on a desktop CPU lies below the moderate band"   # what a verdict is about
      test: {kind: interval, held: [null, 0.4], not_held: [0.6, null], min_n: 10,
             bounds: {provenance: choice, text: "Evans (1996)'s verbal bands"}}

The claim's id is `<paper>/<section>/<name>`; the chapter that judges it is the experiment `<paper>/<section>`. A
claim without `test` is context for a chapter not yet written (the dashboard lists it as such), or, with
`not_testable: "why"`, a claim no chapter here can test (hardware, data or a model the project does not
have). Test fields:
`kind` (interval | direction | separated | tolerance, see `mobilerepro.verdicts`), `min_n` (the least evidence:
models, seeds, samples, images; at least 3 for a direction claim), `held` / `not_held` regions (interval),
`direction` (direction, separated: greater | less; tolerance: both | at_least), `negligible` (direction: an
equivalence region) and `paper_effect` (direction: `{value, provenance, unit: relative | points | plain}`, shown
beside the verdict), `absolute` / `relative` and `targets` (tolerance: scope -> `file/key/key` path of a published
value), and `bounds: {provenance, text}` — required whenever the rule uses a number other than zero.

Loading validates everything, refuses a target whose provenance is not `verified` or `secondary` (a *recalled*
or *derived* value is never a verdict target), and refuses a rule whose numbers carry no provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from mobilerepro import MobileReproError, paper
from mobilerepro.paper import BOUND_PROVENANCE, TARGET_PROVENANCE

FAMILY_ALPHA = 0.05  # the family-wise error rate of one chapter's contrasts (Holm), the verdict engine's

TEST_KINDS = ("interval", "direction", "separated", "tolerance")
EFFECT_UNITS = ("relative", "points", "plain")
MIN_CONTRAST_N = 3  # a direction claim's least evidence: a paired contrast over fewer than 3 seeds says too little
CLAIM_PROVENANCE = ("claim", "verified", "secondary", "choice")


class ClaimError(MobileReproError):
    """A claim in the paper data that cannot be judged as written."""


@dataclass(frozen=True)
class Target:
    path: str
    value: float
    provenance: str


@dataclass(frozen=True)
class ClaimTest:
    kind: str
    min_n: int
    held: tuple | None = None
    not_held: tuple | None = None
    direction: str = "both"
    absolute: float = 0.0
    relative: float = 0.0
    targets: dict = field(default_factory=dict)
    negligible: tuple | None = None  # direction: an equivalence region; inside it the effect is shown negligible
    paper_effect: float | None = None  # direction: the paper's effect size, shown beside the verdict
    effect_unit: str = "plain"
    bounds: dict | None = None  # the provenance (and source) of the rule's numbers other than zero

    def format_effect(self, value: float) -> str:
        if self.effect_unit == "relative":
            return f"{100 * value:+.1f} %"
        return f"{value:+.3g}" + (" points" if self.effect_unit == "points" else "")

    def rule_numbers(self) -> list[float]:
        """The numbers the rule decides with (zero and open ends are no numbers)."""
        regions = [r for r in (self.held, self.not_held, self.negligible) if r]
        return [x for region in regions for x in region if x] + [x for x in (self.absolute, self.relative) if x]

    def describe(self, family: int = 1) -> str:
        """The rule in words, for the chapters and the dashboard (`family`: the contrasts judged with it)."""
        rule = self._describe(family)
        if self.bounds:
            rule += f" (its numbers: {self.bounds['provenance']} — {self.bounds['text']})"
        return rule

    def _describe(self, family: int) -> str:
        if self.kind == "direction":
            side, other = ("above", "below") if self.direction == "greater" else ("below", "above")
            shown = (f"Holm-adjusted p ≤ {FAMILY_ALPHA:g} over the chapter's {family} paired contrasts, or the "
                     "interval excluding zero where the evidence has no p-value" if family > 1 else
                     "its interval excludes zero")
            rule = f"held if the effect is shown {side} zero ({shown}); did not hold if shown {other} zero"
            if self.negligible:
                rule += (" or if the whole interval lies in the negligible region "
                         f"{_region(self.negligible, closed=True)}")
            rule += f"; otherwise inconclusive; at least {self.min_n} observations"
            if self.paper_effect is not None:
                rule += (f"; the paper's effect ({self.format_effect(self.paper_effect)}) is shown beside as a "
                         "consistency check, not as the bar")
            return rule
        if self.kind == "interval":
            rule = f"held if the whole interval lies in {_region(self.held)}"
            rule += (f"; did not hold if it lies in {_region(self.not_held, closed=True)}" if self.not_held
                     else "; did not hold if it lies entirely outside")
        elif self.kind == "separated":
            side = "above" if self.direction == "greater" else "below"
            rule = (f"held if the candidate's spread lies entirely {side} the reference's; did not hold if entirely "
                    "on the other side")
        else:
            parts = (f"{self.absolute:g}" if self.absolute else "",
                     f"{self.relative:.2%} of the target" if self.relative else "")
            margin = " + ".join(part for part in parts if part)
            rule = (f"held if ours ≥ target − ({margin})" if self.direction == "at_least"
                    else f"held if |ours − target| ≤ {margin or 0}")
            return f"{rule}, else did not hold"
        return f"{rule}; otherwise inconclusive; at least {self.min_n} observations"


def _region(region, closed: bool = False) -> str:
    low, high = region
    brackets = "[]" if closed else "()"
    return f"{brackets[0]}{'−∞' if low is None else f'{low:g}'}, {'∞' if high is None else f'{high:g}'}{brackets[1]}"


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    section: str
    where: str
    text: str
    provenance: str
    tested_as: str
    test: ClaimTest | None
    not_testable: str = ""  # why no chapter of this project can test the claim (hardware, data, a missing model)

    @property
    def experiment(self) -> str:
        """The id of the experiment (chapter) that judges this claim."""
        return f"{self.paper}/{self.section}"

    @property
    def name(self) -> str:
        return self.id.rsplit("/", 1)[1]

    def target(self, scope: str) -> Target | None:
        path = self.test.targets.get(scope) if self.test else None
        return None if path is None else resolve_target(path, self.id)


def resolve_target(path: str, claim_id: str = "?") -> Target:
    """The published value at `file/key/key...`, refused unless it may be a verdict's target."""
    file, *keys = path.split("/")
    node = paper.load(file)
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            raise ClaimError(f"claim {claim_id}: target {path!r} does not exist in the paper data")
        node = node[key]
    if not isinstance(node, dict) or "value" not in node or "provenance" not in node:
        raise ClaimError(f"claim {claim_id}: target {path!r} is not a published value with a provenance")
    if node["provenance"] not in TARGET_PROVENANCE:
        raise ClaimError(f"claim {claim_id}: target {path!r} is {node['provenance']}; only "
                         f"{' or '.join(TARGET_PROVENANCE)} values can be a verdict's target")
    return Target(path, float(node["value"]), node["provenance"])


def _pair(value, what: str, claim_id: str) -> tuple | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2):
        raise ClaimError(f"claim {claim_id}: {what} must be [low, high] (null for no bound), got {value!r}")
    low, high = value
    if low is not None and high is not None and low >= high:
        raise ClaimError(f"claim {claim_id}: {what} [{low}, {high}] is empty")
    return low, high


def parse_test(entry: dict | None, claim_id: str) -> ClaimTest | None:
    if entry is None:
        return None
    entry = dict(entry)
    kind = entry.pop("kind", None)
    if kind not in TEST_KINDS:
        raise ClaimError(f"claim {claim_id}: unknown test kind {kind!r} (choose from: {', '.join(TEST_KINDS)})")
    min_n = entry.pop("min_n", None)
    if not isinstance(min_n, int) or min_n < 1:
        raise ClaimError(f"claim {claim_id}: min_n (the least evidence for a verdict) must be a positive integer")
    effect = entry.pop("paper_effect", None)
    if effect is not None and not (isinstance(effect, dict) and {"value", "provenance"} <= set(effect)
                                   and effect["provenance"] in BOUND_PROVENANCE):
        raise ClaimError(f"claim {claim_id}: paper_effect is {{value, provenance}} (provenance one of "
                         f"{', '.join(BOUND_PROVENANCE)})")
    test = ClaimTest(kind, min_n, _pair(entry.pop("held", None), "held", claim_id),
                     _pair(entry.pop("not_held", None), "not_held", claim_id), entry.pop("direction", "both"),
                     float(entry.pop("absolute", 0.0)), float(entry.pop("relative", 0.0)),
                     dict(entry.pop("targets", {})), _pair(entry.pop("negligible", None), "negligible", claim_id),
                     None if effect is None else float(effect["value"]),
                     effect.get("unit", "plain") if effect else "plain", entry.pop("bounds", None))
    if entry:
        raise ClaimError(f"claim {claim_id}: unknown test fields {', '.join(sorted(entry))}")
    if test.effect_unit not in EFFECT_UNITS:
        raise ClaimError(f"claim {claim_id}: paper_effect unit is one of {', '.join(EFFECT_UNITS)}")
    if test.rule_numbers():
        bounds = test.bounds
        if not (isinstance(bounds, dict) and bounds.get("provenance") in BOUND_PROVENANCE and bounds.get("text")):
            numbers = ", ".join(f"{x:g}" for x in test.rule_numbers())
            raise ClaimError(f"claim {claim_id}: the rule's numbers ({numbers}) need bounds: {{provenance: one of "
                             f"{', '.join(BOUND_PROVENANCE)}, text: why}}")
    if kind == "direction":
        if test.direction not in ("greater", "less"):
            raise ClaimError(f"claim {claim_id}: a direction test needs direction greater or less")
        if test.held or test.not_held:
            raise ClaimError(f"claim {claim_id}: a direction test is judged on the sign; its paper's effect is "
                             "paper_effect, an equivalence region negligible (no held / not_held)")
        if min_n < MIN_CONTRAST_N:
            raise ClaimError(f"claim {claim_id}: a direction test needs min_n ≥ {MIN_CONTRAST_N} (seeds or models)")
    if kind == "interval" and test.held is None:
        raise ClaimError(f"claim {claim_id}: an interval test needs a held region")
    if kind == "separated" and test.direction not in ("greater", "less"):
        raise ClaimError(f"claim {claim_id}: a separated test needs direction greater or less")
    if kind == "tolerance":
        if test.direction not in ("both", "at_least"):
            raise ClaimError(f"claim {claim_id}: a tolerance test's direction is both or at_least")
        if not test.targets:
            raise ClaimError(f"claim {claim_id}: a tolerance test needs targets (scope: paper-data path)")
        for path in test.targets.values():
            resolve_target(path, claim_id)
    return test


def parse_claim(paper_id: str, section: str, name: str, entry: dict) -> Claim:
    claim_id = f"{paper_id}/{section}/{name}"
    missing = [key for key in ("where", "text", "provenance") if key not in entry]
    if missing:
        raise ClaimError(f"claim {claim_id}: missing {', '.join(missing)}")
    if entry["provenance"] not in CLAIM_PROVENANCE:
        raise ClaimError(f"claim {claim_id}: a claim's provenance is one of {', '.join(CLAIM_PROVENANCE)}, "
                         f"not {entry['provenance']!r}")
    test = parse_test(entry.get("test"), claim_id)
    if test is not None and "tested_as" not in entry:
        raise ClaimError(f"claim {claim_id}: a judged claim says what is tested (tested_as)")
    if test is not None and entry.get("not_testable"):
        raise ClaimError(f"claim {claim_id}: a claim with a test is judged; not_testable is for one without")
    return Claim(claim_id, paper_id, section, entry["where"], entry["text"], entry["provenance"],
                 entry.get("tested_as", entry["text"]), test, str(entry.get("not_testable", "")))


@cache
def all_claims() -> dict[str, Claim]:
    """Every claim of every paper data file, by id, in file order."""
    claims = {}
    papers = [paper.load(name) for name in paper.data_files() if paper.load(name).get("paper")]
    for data in sorted(papers, key=lambda data: data["paper"].get("order", 0)):
        header = data["paper"]
        for section, content in data.items():
            if isinstance(content, dict) and "claims" in content:
                for claim_name, entry in content["claims"].items():
                    claim = parse_claim(header["id"], section, claim_name, entry)
                    claims[claim.id] = claim
    return claims


def claims_of(experiment_id: str) -> dict[str, Claim]:
    """The claims one chapter judges, by their name within the chapter."""
    return {c.name: c for c in all_claims().values() if c.experiment == experiment_id}


def get(claim_id: str) -> Claim:
    claims = all_claims()
    if claim_id not in claims:
        raise ClaimError(f"unknown claim {claim_id!r}")
    return claims[claim_id]
