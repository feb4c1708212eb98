"""Search spaces as data, and a network of one as a set of genes.

A network is the genes of `UIB_SPACE` (`models.mobilenetv4`): the stem width, the FusedIB stage's expansion and
width, and per UIB stage its width, its depth and, for each of its possible blocks, the pair of depthwise kernels
(start, middle) and the expansion. Blocks beyond a stage's depth are inactive: their genes are kept (they may
become active after a mutation of the depth, as in OFA's encoding) but do not change the network. A search space
restricts the kernel pairs a block may take: MobileNetV4's UIB (every pair), IB only (a middle depthwise, no start)
and ConvNext-like only (a start depthwise, no middle) — the spaces its Tab. 1 compares.

The genes fall into two groups, the two stages of MobileNetV4's search (§5): *coarse* (widths, depths,
expansions), searched first with every block held at the space's fixed block, and *fine* (the kernel pairs),
searched second with the coarse genes of the first stage's winner held fixed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mobilerepro import MobileReproError
from mobilerepro.models.mobilenetv4 import UIB, UIB_SPACE, Conv, FusedIB, MobileNetV4Spec

Genes = dict[str, object]  # gene name -> value
COARSE, FINE = "coarse", "fine"


@dataclass(frozen=True)
class SearchSpace:
    """The kernel pairs (start, middle; 0 = absent) a block may take, and the one every block is held at while the
    coarse stage searches widths (MobileNetV4 §5 holds an IB with a 3x3 depthwise)."""

    name: str
    label: str
    kernel_pairs: tuple[tuple[int, int], ...]
    fixed_pair: tuple[int, int]

    def __post_init__(self):
        if self.fixed_pair not in self.kernel_pairs or not any(self.fixed_pair):
            raise MobileReproError(f"space {self.name}: the fixed block must be one of its pairs, with a depthwise")

    def gene_choices(self) -> dict[str, tuple]:
        """Every gene and the values it may take, in a fixed order."""
        choices: dict[str, tuple] = {"stem": UIB_SPACE.stem_widths, "fused_expansion": UIB_SPACE.fused_expansions,
                                     "fused_width": UIB_SPACE.fused_widths}
        for stage, (widths, (low, high)) in enumerate(zip(UIB_SPACE.stage_widths, UIB_SPACE.stage_depths,
                                                          strict=True)):
            choices[f"s{stage}_width"] = widths
            choices[f"s{stage}_depth"] = tuple(range(low, high + 1))
            for block in range(high):
                choices[f"s{stage}_b{block}_kernels"] = self.kernel_pairs
                choices[f"s{stage}_b{block}_expansion"] = UIB_SPACE.expansions
        return choices

    @staticmethod
    def group(gene: str) -> str:
        return FINE if gene.endswith("_kernels") else COARSE

    def sample(self, rng: random.Random) -> Genes:
        return {gene: rng.choice(values) for gene, values in self.gene_choices().items()}

    def held_fine(self, genes: Genes) -> Genes:
        """`genes` with every block at the fixed pair: the network the coarse stage evaluates."""
        return {g: (self.fixed_pair if self.group(g) == FINE else v) for g, v in genes.items()}

    def spec(self, genes: Genes, input_size: int = 224, name: str = "searched") -> MobileNetV4Spec:
        """The network `genes` describe. A strided block needs a depthwise convolution to carry its stride: one with
        neither (an FFN) takes the space's fixed pair there."""
        stages = [(FusedIB(3, genes["fused_expansion"], genes["fused_width"], 2),)]
        for stage in range(len(UIB_SPACE.stage_widths)):
            blocks = []
            for block in range(genes[f"s{stage}_depth"]):
                start, middle = genes[f"s{stage}_b{block}_kernels"]
                if block == 0 and not (start or middle):
                    start, middle = self.fixed_pair
                blocks.append(UIB(start, middle, genes[f"s{stage}_b{block}_expansion"], genes[f"s{stage}_width"],
                                  2 if block == 0 else 1))
            stages.append(tuple(blocks))
        stages.append((Conv(1, UIB_SPACE.last_conv),))
        return MobileNetV4Spec(name, genes["stem"], tuple(stages), input_size=input_size)


def pairs(starts: tuple[int, ...], middles: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    return tuple((s, m) for s in starts for m in middles)


KERNELS = UIB_SPACE.depthwise_kernels
WITH_DW = tuple(k for k in KERNELS if k)
SPACES = {space.name: space for space in (
    SearchSpace("uib", "UIB (MobileNetV4)", pairs(KERNELS, KERNELS), (0, 3)),
    SearchSpace("ib", "IB only", pairs((0,), WITH_DW), (0, 3)),
    SearchSpace("convnext", "ConvNext-like only", pairs(WITH_DW, (0,)), (3, 0)),
)}


def get_space(name: str) -> SearchSpace:
    if name not in SPACES:
        raise MobileReproError(f"unknown search space {name!r} (choose from: {', '.join(SPACES)})")
    return SPACES[name]


def network_key(space: SearchSpace, genes: Genes) -> tuple:
    """What identifies the network `genes` describe (inactive blocks left out): equal keys, equal networks."""
    spec = space.spec(genes)
    return (spec.stem_channels, spec.stages)
