"""Reduced-scale dense training: fixed disjoint splits, and a run killed mid-way that resumes from mmengine's checkpoint
(loaded with weights_only=True) to the same length as an uninterrupted one."""

import json
import subprocess
import sys
import time

import pytest
from conftest import real_data
from hypothesis import given
from hypothesis import strategies as st

from mobilerepro import MobileReproError, stack

pytestmark = pytest.mark.skipif(not stack.available(), reason="the dense stack is not installed (make dense-setup)")

if stack.available():
    from mobilerepro.dense import training


@given(st.lists(st.integers(0, 10**6), min_size=2, max_size=60, unique=True), st.floats(0.05, 0.95))
def test_a_split_is_disjoint_complete_and_fixed(names, fraction):
    budget = training.Budget(epochs=1, batch_size=2, held_out_fraction=fraction)
    try:
        train, held_out = training.split(names, budget)
    except MobileReproError:
        assert round(len(names) * fraction) in (0, len(names))
        return
    assert set(train).isdisjoint(held_out) and set(train) | set(held_out) == set(names)
    assert (train, held_out) == training.split(list(reversed(names)), budget)


def test_the_detection_split_keeps_every_annotation_with_its_image(tmp_path):
    data = real_data("coco128-cocofmt")
    budget = training.Budget(epochs=1, batch_size=2)
    files = training.detection_split_files(data, tmp_path, budget)
    whole = json.loads((data / "annotations" / "instances_train2017.json").read_text())
    parts = [json.loads(files[part].read_text()) for part in ("train", "held_out")]
    assert sum(len(p["images"]) for p in parts) == len(whole["images"])
    assert sum(len(p["annotations"]) for p in parts) == len(whole["annotations"])
    for part in parts:
        ids = {image["id"] for image in part["images"]}
        assert all(a["image_id"] in ids for a in part["annotations"])


IMAGES = 24  # of CamVid's val frames: enough for two epochs of several iterations, little enough to be quick
RUN = f"""
import json, sys
from pathlib import Path
from mobilerepro.dense import training
budget = training.Budget(epochs=2, batch_size=4, images={IMAGES})
config = training.segmentation_config("mobileone_s0", "camvid", Path(sys.argv[1]), Path(sys.argv[2]), budget,
                                     int(sys.argv[3]), 48)
print(json.dumps({{k: v for k, v in training.train_and_evaluate(config).items() if k in ("iterations", "loss")}}))
"""


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_checkpoint_to_the_full_length(tmp_path):
    """Killed after its first epoch's checkpoint, the run is started again with another seed: a fresh start would
    train other first-epoch losses, a resumed run carries the killed run's losses (from the checkpoint, loaded with
    weights_only=True) and trains only the second epoch."""
    import torch

    data = real_data("camvid-segnet")
    folder = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-c", RUN, str(data), str(folder), "0"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    # mmengine names a checkpoint in `last_checkpoint` once it is written whole; a run killed before that starts over.
    while not (folder / "last_checkpoint").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    first.kill()
    first.wait()
    assert (folder / "epoch_1.pth").exists() and not (folder / "metrics.json").exists()
    with torch.serialization.safe_globals(training.checkpoint_globals()):
        saved = torch.load(folder / "epoch_1.pth", weights_only=True)
    first_epoch = [float(v) for v in saved["message_hub"]["log_scalars"]["train/loss"].data[0]]
    resumed = subprocess.run([sys.executable, "-c", RUN, str(data), str(folder), "1"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    iterations_per_epoch = -(-round(IMAGES * 0.75) // 4)
    assert len(first_epoch) == iterations_per_epoch
    assert result["iterations"] == 2 * iterations_per_epoch
    assert result["loss"][:iterations_per_epoch] == pytest.approx(first_epoch, rel=0, abs=0)


def constructed_runs(scratch, imagenet):
    import pandas as pd

    return pd.DataFrame.from_records(
        [{"set": "camvid", "backbone": "efficientnet_lite0", "start": start, "seed": seed, "held_out": value,
          "iterations": 30} for start, values in (("scratch", scratch), ("imagenet", imagenet))
         for seed, value in enumerate(values)])


def test_the_imagenet_start_is_judged_paired_by_seed_and_not_when_the_metric_sits_at_its_floor():
    from mobilerepro import experiments
    from mobilerepro.measure.latency import CPU_BACKENDS
    from mobilerepro.verdicts import HELD, NOT_HELD, NOT_TESTABLE, judge_chapter

    chapter = experiments.get("pipeline/small_segmentation")

    def verdict(scratch, imagenet):
        (found,) = judge_chapter(chapter.claims, chapter.pretrained_evidence(constructed_runs(scratch, imagenet)),
                                 CPU_BACKENDS)
        return found

    assert verdict([10.0, 11.0, 9.0], [20.0, 22.0, 19.5]).verdict == HELD
    assert verdict([20.0, 22.0, 19.5], [10.0, 11.0, 9.0]).verdict == NOT_HELD
    floor = verdict([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    assert floor.verdict == NOT_TESTABLE and "cannot show a difference" in floor.ours
