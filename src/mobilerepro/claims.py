"""Claims as data: every statement a chapter judges, read from the paper data files (`mobilerepro/paper/*.yaml`).

A data file that opens with a `paper:` header (its id, e.g. `mobileone`) holds sections (`table1`, `table7`, ...);
a section's `claims:` maps a name to a claim::

    desktop_macs_lower:
      where: "Tab. 1, §3.1"
      text: "On a desktop CPU the correlation is even lower than on mobile."   # the paper's words (or close)
      provenance: claim
      tested_as: "ρ(latency, MACs) on a desktop CPU lies below the moderate band"   # what a verdict is about
      test: {kind: interval, held: [null, 0.4], not_held: [0.6, null], min_n: 10}

The claim's id is `<paper>/<section>/<name>`; the chapter that judges it is the experiment `<paper>/<section>`. A
claim without `test` is context for a chapter not yet written (the dashboard lists it as such). Test fields:
`kind` (interval | separated | tolerance, see `mobilerepro.verdicts`), `min_n` (the least evidence: models, seeds,
samples, images), `held` / `not_held` regions (interval), `direction` (separated: greater | less; tolerance: both |
at_least), `absolute` / `relative` and `targets` (tolerance: scope -> `file/key/key` path of a published value).

Loading validates everything, and refuses a target whose provenance is not `verified` or `secondary`: a *recalled*
or *derived* value is never a verdict target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from mobilerepro import MobileReproError, paper
from mobilerepro.verdicts import TARGET_PROVENANCE

TEST_KINDS = ("interval", "separated", "tolerance")
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

    def describe(self) -> str:
        """The rule in words, for the chapters and the dashboard."""
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
    test = ClaimTest(kind, min_n, _pair(entry.pop("held", None), "held", claim_id),
                _pair(entry.pop("not_held", None), "not_held", claim_id), entry.pop("direction", "both"),
                float(entry.pop("absolute", 0.0)), float(entry.pop("relative", 0.0)), dict(entry.pop("targets", {})))
    if entry:
        raise ClaimError(f"claim {claim_id}: unknown test fields {', '.join(sorted(entry))}")
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
    return Claim(claim_id, paper_id, section, entry["where"], entry["text"], entry["provenance"],
                 entry.get("tested_as", entry["text"]), test)


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
