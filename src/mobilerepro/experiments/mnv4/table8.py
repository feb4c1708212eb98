"""MobileNetV4 Tabs. 8-9: a student distilled from stored soft labels against hard labels, and the D1 / D2 / D1 + D2
mixtures, with the train-val gap Tab. 8 reports (reduced scale by default; `PROFILE=full` on ImageNet with your
teacher). The machinery is `experiments.distillation`."""

from mobilerepro import paper
from mobilerepro.experiments._distillation import (
    Comparison,
    DistillationExperiment,
    distillation_profiles,
    published_cells,
)

SECTION = paper.load("mobilenetv4")["table8"]


class DistillationMixtures(DistillationExperiment):
    title = "MobileNetV4 Tables 8–9 — distillation from stored soft labels, and dataset mixtures"
    description = ("MNv4-Conv-S student from a real teacher's stored soft labels: hard vs D1 vs D2 vs D1+D2, paired "
                   "by seed, with the train-val gap (reduced scale; full: TEACHER=... on ImageNet)")
    comparisons = (
        Comparison("distillation_beats_hard", "d1_d2", "hard"),
        Comparison("distillation_beats_hard", "d1", "hard"),
        Comparison("distillation_beats_hard", "d2", "hard"),
        Comparison("mixing_beats_each", "d1_d2", "d1", needs_overfitting=True),
        Comparison("mixing_beats_each", "d1_d2", "d2", needs_overfitting=True),
        Comparison("gap_shrinks", "d1_d2", "d1", "gap", needs_overfitting=True),
        Comparison("gap_shrinks", "d1_d2", "d2", "gap", needs_overfitting=True),
    )
    profiles = distillation_profiles(["hard", "d1", "d2", "d1_d2"], full={"hard_recipe": "mnv4_conv_s"})

    def published_rows(self) -> list[dict]:
        mixtures = published_cells(SECTION["mixtures"], {"val_top1": "val top-1", "train_top1": "train top-1"})
        students = published_cells(SECTION["students"], {"in1k_only": "IN-1k only", "patient_teacher":
                                                          "Patient Teacher", "distilled": "MNv4 distillation"})
        return ([{"table": "Tab. 8 (Conv-L students, 400 epochs)", **row} for row in mixtures]
                + [{"table": "Tab. 9 (ImageNet top-1)", **row} for row in students])


EXPERIMENT = DistillationMixtures()
