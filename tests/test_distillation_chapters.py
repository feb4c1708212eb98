"""The distillation chapters (MNv4 Tabs. 8-9, MobileOne Tab. 10) and their full-scale path: paired contrasts in the
claims' directions, equal steps for every arm, the user's timm teacher read weights-only (and refused in one line when
it does not fit), a store written by two writers under torchrun, and the full profile stopping before any work
without its teacher or its data."""

import json

import pandas as pd
import pytest
import timm
import torch
from train_helpers import CLASSES, tiny_train_config, write_image_folder

from mobilerepro import MobileReproError, experiments
from mobilerepro.data import soft_labels as store
from mobilerepro.distill import pipeline
from mobilerepro.distill.teacher import timm_teacher
from mobilerepro.experiments._distillation import Comparison, paired_contrast, underfitting
from mobilerepro.train import trainer

TINY_TIMM = "mobilenetv3_small_050"


def arms_frame(hard, distilled, hard_gap, distilled_gap):
    rows = [{"arm": arm, "seed": seed, "top1": top1, "gap": gap}
            for arm, values, gaps in (("hard", hard, hard_gap), ("d1_d2", distilled, distilled_gap))
            for seed, (top1, gap) in enumerate(zip(values, gaps, strict=True))]
    return pd.DataFrame.from_records(rows)


def test_contrasts_are_paired_by_seed_in_the_claims_direction():
    frame = arms_frame(hard=[40.0, 50.0, 60.0], distilled=[41.0, 52.0, 63.0], hard_gap=[5.0, 6.0, 7.0],
                       distilled_gap=[4.0, 4.0, 4.0])
    top1 = paired_contrast(frame, Comparison("c", "d1_d2", "hard"))
    assert top1["difference"] == pytest.approx(2.0) and top1["seeds"] == 3
    assert top1["ci_low"] < 2.0 < top1["ci_high"]
    # Unpaired, the seeds' spread (40-60) would swamp a 1-3 point gain; paired, the interval stays above zero.
    assert top1["ci_low"] > -1.0
    gap = paired_contrast(frame, Comparison("c", "d1_d2", "hard", "gap"))
    assert gap["difference"] == pytest.approx(2.0)  # the worse arm's gap minus the better arm's: positive = shrank


def test_a_worse_distilled_arm_gives_a_negative_contrast():
    frame = arms_frame(hard=[50.0, 51.0], distilled=[45.0, 47.0], hard_gap=[1.0, 1.0], distilled_gap=[3.0, 3.0])
    assert paired_contrast(frame, Comparison("c", "d1_d2", "hard"))["difference"] == pytest.approx(-4.5)
    assert paired_contrast(frame, Comparison("c", "d1_d2", "hard", "gap"))["difference"] == pytest.approx(-2.0)


def test_regularisation_claims_need_students_that_overfit():
    """Mixing and the gap: not testable when the hard-label students' gap is below the stated minimum, with the gap
    in the reason; testable once they overfit; and a contrast carries its t-test p-value for Holm."""
    from mobilerepro import paper

    needed = paper.value(paper.load("mobilenetv4")["table8"]["min_overfit_gap"])
    underfit = arms_frame(hard=[40.0, 41.0, 42.0], distilled=[41.0, 43.0, 44.0], hard_gap=[1.5, 2.0, 2.5],
                          distilled_gap=[1.0, 1.0, 1.0])
    reason = underfitting(underfit)
    assert reason.startswith("not testable at this scale") and "+2.00 points" in reason
    overfit = underfit.assign(gap=underfit.gap + needed)
    assert underfitting(overfit) is None
    assert 0 < paired_contrast(overfit, Comparison("c", "d1_d2", "hard"))["p_value"] < 0.05


@pytest.mark.slow
def test_every_arm_of_a_smoke_run_takes_the_same_steps_from_one_split(smoke_run):
    directory = smoke_run("mnv4/table8")
    rows = pd.read_csv(directory / "table8.csv")
    runs = [trainer.TrainingRun.load(folder) for folder in rows.run]
    assert {run.summary["schedule"]["steps_per_epoch"] for run in runs} == {runs[0].summary["schedule"][
        "steps_per_epoch"]}
    assert {run.summary["config"]["split_seed"] for run in runs} == {0}
    assert {json.dumps(run.summary["data"], sort_keys=True) for run in runs} == {json.dumps(runs[0].summary["data"],
                                                                                           sort_keys=True)}
    distilled = [run for run in runs if run.summary["config"]["soft_labels"]]
    assert distilled and all(run.summary["config"]["teacher"] for run in distilled)


@pytest.fixture(scope="module")
def timm_checkpoint(tmp_path_factory):
    model = timm.create_model(TINY_TIMM, pretrained=False, num_classes=len(CLASSES))
    path = tmp_path_factory.mktemp("teacher") / "teacher.pth"
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, path)
    return path, model.eval()


def test_a_timm_checkpoint_is_the_teacher_as_trained(timm_checkpoint):
    path, original = timm_checkpoint
    teacher, preprocess = timm_teacher(path, TINY_TIMM, len(CLASSES))
    pixels = torch.randint(0, 256, (3, 40, 40), dtype=torch.uint8)
    inputs = preprocess(pixels)
    assert inputs.shape == (3, 224, 224) and inputs.dtype == torch.float32  # timm's input size for the model
    with torch.no_grad():
        assert torch.equal(teacher(inputs[None]), original(inputs[None]))


@pytest.mark.parametrize(("model", "classes", "message"), [
    (TINY_TIMM, 1000, "do not fit"),
    ("no_such_model", 3, "is not a timm model"),
])
def test_a_teacher_that_does_not_fit_is_refused_in_one_line(timm_checkpoint, model, classes, message):
    path, _ = timm_checkpoint
    with pytest.raises(MobileReproError, match=message) as error:
        timm_teacher(path, model, classes)
    assert "\n" not in str(error.value)


def test_a_missing_teacher_checkpoint_is_refused_in_one_line(tmp_path):
    with pytest.raises(MobileReproError, match="does not exist"):
        timm_teacher(tmp_path / "absent.pth", TINY_TIMM, 3)


@pytest.mark.slow
def test_two_writers_under_torchrun_write_one_complete_store(timm_checkpoint, tmp_path):
    path, _ = timm_checkpoint
    root = write_image_folder(tmp_path / "images", per_class=6)
    run = tiny_train_config(root, tmp_path / "unused")
    train, _ = trainer.datasets(run)
    spec = pipeline.TeacherSpec("timm", str(path), len(CLASSES), TINY_TIMM)
    job = pipeline.StoreJob(str(tmp_path / "store"), spec, store.Augmentation("d1", 16), run.as_dict(), replicas=2,
                            batch_size=4)
    manifest = pipeline.build_store(job, processes=2, progress=False)
    assert manifest["world"] == 2 and sum(s["records"] for s in manifest["shards"]) == 2 * len(train)
    assert {s["file"].split("-")[1] for s in manifest["shards"]} == {"000", "001"}  # both ranks wrote
    teacher, _ = spec.load()
    labels = store.SoftLabels.open(tmp_path / "store", train, store.teacher_digest(teacher))
    assert len(labels) == 2 * len(train)
    again = pipeline.build_store(job, processes=2, progress=False)  # finished: found, not written again
    assert again["shards"] == manifest["shards"]


@pytest.mark.parametrize("experiment_id", ["mnv4/table8", "mobileone/table10"])
def test_the_full_profile_stops_before_any_work_without_its_teacher_or_data(experiment_id, tmp_path, monkeypatch,
                                                                           timm_checkpoint):
    monkeypatch.delenv("MOBILEREPRO_TEACHER", raising=False)
    monkeypatch.delenv("MOBILEREPRO_TEACHER_MODEL", raising=False)
    monkeypatch.setenv("MOBILEREPRO_RESULTS", str(tmp_path / "results"))
    experiment = experiments.get(experiment_id)
    with pytest.raises(MobileReproError, match="TEACHER=/path/to/checkpoint") as error:
        experiment.run(experiment.configure("full", data=str(tmp_path)), tmp_path / "out", progress=False)
    assert "\n" not in str(error.value)
    monkeypatch.setenv("MOBILEREPRO_TEACHER", str(timm_checkpoint[0]))
    monkeypatch.setenv("MOBILEREPRO_TEACHER_MODEL", TINY_TIMM)
    with pytest.raises(MobileReproError, match="train/ and val/") as error:
        experiment.run(experiment.configure("full", data=str(tmp_path)), tmp_path / "out", progress=False)
    assert "make data DATASET=imagenet" in str(error.value)
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_a_student_trains_from_a_store_as_two_processes_under_torchrun(timm_checkpoint, tmp_path):
    path, _ = timm_checkpoint
    root = write_image_folder(tmp_path / "images", per_class=8)
    spec = pipeline.TeacherSpec("timm", str(path), len(CLASSES), TINY_TIMM)
    reference = tiny_train_config(root, tmp_path / "unused", split_seed=0)
    job = pipeline.StoreJob(str(tmp_path / "store"), spec, store.Augmentation("d2", 16), reference.as_dict(),
                            replicas=1, batch_size=4)
    pipeline.build_store(job, progress=False)
    teacher, _ = spec.load()
    student = tiny_train_config(root, tmp_path / "student", split_seed=0, batch_size=2,
                                soft_labels=[str(tmp_path / "store")], teacher=store.teacher_digest(teacher))
    run = pipeline.train_student(student, processes=2)
    assert run.complete and run.summary["processes"] == 2
    assert run.summary["schedule"]["global_batch"] == 4 and run.final["val_top1"] is not None
