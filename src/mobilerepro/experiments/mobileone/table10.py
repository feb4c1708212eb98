"""MobileOne Tab. 10: does distillation improve MobileOne? MobileOne-S0 trained on a real teacher's stored soft
labels (D1 + D2) against hard labels, paired by seed (reduced scale by default; `PROFILE=full` on ImageNet with your
teacher). It shares the teacher and the stores of MNv4 Tabs. 8-9 (`experiments.distillation`)."""

from mobilerepro import paper
from mobilerepro.experiments._distillation import (
    Comparison,
    DistillationExperiment,
    distillation_profiles,
    published_cells,
)


class Table10(DistillationExperiment):
    title = "MobileOne Table 10 — does distillation improve MobileOne?"
    description = "MobileOne-S0 from a real teacher's stored soft labels (D1+D2) vs hard labels, paired by seed"
    comparisons = (Comparison("distillation_improves", "d1_d2", "hard"),)
    # MobileOne has neither dropout nor drop-path (the student recipe's settings of both are MNv4's).
    recipe_overrides = {"dropout": None, "drop_path": None}
    profiles = {name: {**settings, "model": "mobileone_s0"} for name, settings in
                distillation_profiles(["hard", "d1_d2"], full={"hard_recipe": "mobileone_s0s1"}).items()}

    def published_rows(self) -> list[dict]:
        models = paper.load("models")
        distilled = paper.load("mobileone")["table10"]["distilled"]
        return [{**row, "without distillation (Tab. 9)": paper.cell(models.get(key, {}).get("top1"))}
                for key, row in zip(distilled, published_cells(distilled, {"top1": "distilled (Tab. 10)"}),
                                    strict=True)]


EXPERIMENT = Table10()
