"""The offline soft-label store: the pixels the teacher saw are replayed exactly, a killed writer resumes without a
duplicate or a gap, ranks split the work, damaged shards and mismatched stores are refused with one line."""

import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import real_data

from mobilerepro import MobileReproError
from mobilerepro.data import soft_labels as store
from mobilerepro.data.datasets import image_folder

TEACHER_CODE = """
import torch
def make_teacher(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                               torch.nn.Flatten(), torch.nn.Linear(8, 10))
def preprocess(pixels):
    return pixels.float() / 255
"""
namespace: dict = {}
exec(TEACHER_CODE, namespace)  # the same teacher in the tests and in the writer processes they kill
make_teacher, preprocess = namespace["make_teacher"], namespace["preprocess"]


@pytest.fixture(scope="module")
def samples():
    every = image_folder(real_data("cifar10-test-jpg") / "test")
    return every.subset(range(0, len(every), len(every) // 20), "20 images")


@pytest.mark.parametrize("kind", ["d1", "d2"])
def test_the_store_replays_the_pixels_the_teacher_saw(samples, tmp_path, kind):
    seen = []
    teacher, augmentation = make_teacher(), store.Augmentation(kind, 32)

    def recording(pixels):
        seen.append(pixels.clone())
        return preprocess(pixels)

    store.write(tmp_path, samples, teacher, recording, augmentation, replicas=2, shard_size=8, batch_size=5)
    store.finalize(tmp_path)
    labels = store.SoftLabels(tmp_path, samples, store.teacher_digest(teacher), augmentation)
    assert len(labels) == len(seen) == 2 * len(samples)
    for position in range(len(labels)):
        pixels, distribution, label = labels[position]
        assert torch.equal(pixels, seen[position])
        expected = torch.softmax(teacher(preprocess(pixels)[None]), 1)[0]
        assert torch.allclose(distribution, expected, atol=2e-3)  # fp16 storage
        assert label == samples.samples[int(labels.records["image"][position])][1]
    replicas = labels.records["replica"]
    assert set(replicas) == {0, 1} and not np.array_equal(labels[0][0], labels[len(samples)][0])


WRITER = TEACHER_CODE + """
import sys, time
from pathlib import Path
from mobilerepro.data.datasets import image_folder
from mobilerepro.data import soft_labels as store
every = image_folder(sys.argv[2])
samples = every.subset(range(0, len(every), len(every) // 20), "20 images")
def slow(pixels):
    time.sleep(float(sys.argv[3]))
    return preprocess(pixels)
store.write(Path(sys.argv[1]), samples, make_teacher(), slow, store.Augmentation("d1", 32), replicas=2, shard_size=4,
            batch_size=2)
"""


@pytest.mark.slow
def test_a_killed_writer_resumes_without_duplicates_or_gaps(samples, tmp_path):
    folder = tmp_path / "killed"
    root = str(real_data("cifar10-test-jpg") / "test")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), root, "0.05"])
    deadline = time.monotonic() + 120
    while len(list(folder.glob("shard-*.npz"))) < 3 and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.kill()
    writer.wait()
    assert 3 <= len(list(folder.glob("shard-*.npz"))) < 10  # 40 records in shards of 4: killed part-way
    assert subprocess.run([sys.executable, "-c", WRITER, str(folder), root, "0"]).returncode == 0
    store.finalize(folder)
    whole = tmp_path / "whole"
    assert subprocess.run([sys.executable, "-c", WRITER, str(whole), root, "0"]).returncode == 0
    store.finalize(whole)
    digest, augmentation = store.teacher_digest(make_teacher()), store.Augmentation("d1", 32)
    resumed, uninterrupted = (store.SoftLabels(f, samples, digest, augmentation) for f in (folder, whole))
    for name in store.ARRAYS:
        assert np.array_equal(resumed.records[name], uninterrupted.records[name]), name


def test_ranks_split_the_images_and_an_incomplete_store_is_refused(samples, tmp_path):
    teacher, augmentation = make_teacher(), store.Augmentation("d2", 32)
    store.write(tmp_path, samples, teacher, preprocess, augmentation, rank=0, world=2, shard_size=8)
    with pytest.raises(MobileReproError, match=f"{len(samples) // 2} records missing"):
        store.finalize(tmp_path)
    with pytest.raises(MobileReproError, match="never finalized"):
        store.SoftLabels(tmp_path, samples, store.teacher_digest(teacher), augmentation)
    store.write(tmp_path, samples, teacher, preprocess, augmentation, rank=1, world=2, shard_size=8)
    manifest = store.finalize(tmp_path)
    assert sum(shard["records"] for shard in manifest["shards"]) == len(samples)
    images = store.SoftLabels(tmp_path, samples, store.teacher_digest(teacher), augmentation).records["image"]
    assert sorted(images) == list(range(len(samples)))


@pytest.fixture
def finished(samples, tmp_path):
    teacher, augmentation = make_teacher(), store.Augmentation("d1", 32)
    store.write(tmp_path, samples, teacher, preprocess, augmentation, shard_size=8)
    store.finalize(tmp_path)
    return tmp_path, teacher, augmentation


def test_another_teacher_augmentation_or_dataset_is_refused_in_one_line(samples, finished):
    folder, teacher, augmentation = finished
    digest = store.teacher_digest(teacher)
    cases = [({"teacher": store.teacher_digest(make_teacher(seed=1))}, "another teacher"),
             ({"augmentation": store.Augmentation("d1", 32, randaugment_magnitude=5)}, "another augmentation"),
             ({"samples": samples.subset(range(10), "10")}, "another dataset")]
    for change, message in cases:
        arguments = {"samples": samples, "teacher": digest, "augmentation": augmentation, **change}
        with pytest.raises(MobileReproError, match=message) as error:
            store.SoftLabels(folder, **arguments)
        assert "\n" not in str(error.value)
    with pytest.raises(MobileReproError, match="another teacher"):  # nor can another teacher add to it
        store.write(folder, samples, make_teacher(seed=1), preprocess, augmentation, shard_size=8)


def test_a_damaged_shard_is_refused_naming_it(samples, finished):
    folder, teacher, augmentation = finished
    shard = sorted(folder.glob("shard-*.npz"))[1]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(MobileReproError, match=f"shard .*{shard.name} is missing or damaged"):
        store.SoftLabels(folder, samples, store.teacher_digest(teacher), augmentation)


def test_the_distribution_keeps_the_top_k_and_spreads_the_rest(samples, tmp_path):
    teacher, augmentation = make_teacher(), store.Augmentation("d1", 32)
    store.write(tmp_path, samples, teacher, preprocess, augmentation, top_k=3, shard_size=8)
    store.finalize(tmp_path)
    labels = store.SoftLabels(tmp_path, samples, store.teacher_digest(teacher), augmentation)
    distribution = labels.distribution(0)
    kept = labels.records["top_classes"][0].astype(int)
    assert labels.records["top_probs"].shape == (len(samples), 3)
    assert float(distribution.sum()) == pytest.approx(1.0)
    others = np.setdiff1d(np.arange(10), kept)
    assert torch.allclose(distribution[others], distribution[others][0].expand(len(others)))
    assert float(distribution[kept].min()) >= float(distribution[others].max())
