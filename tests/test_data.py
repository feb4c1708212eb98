"""Dataset layouts, their errors, corrupt-image skipping, transforms and the deterministic split."""

import pytest
import torch
from train_helpers import CLASSES, write_image_folder

from mobilerepro import MobileReproError
from mobilerepro.data.datasets import (
    ImageDataset,
    collate_skipping,
    file_list,
    image_folder,
    open_samples,
    split_per_class,
)
from mobilerepro.data.transforms import EvalTransform, TrainTransform


def test_image_folder_classes_are_sorted_folder_names(tmp_path):
    samples = image_folder(write_image_folder(tmp_path / "set", per_class=2))
    assert samples.classes == sorted(CLASSES)
    assert len(samples) == 6
    assert sorted(set(samples.labels.tolist())) == [0, 1, 2]


def test_imagenet_root_with_splits(tmp_path):
    write_image_folder(tmp_path / "imagenet" / "train", per_class=2)
    write_image_folder(tmp_path / "imagenet" / "val", per_class=1)
    assert len(open_samples(tmp_path / "imagenet", split="val")) == 3
    with pytest.raises(MobileReproError, match="no 'test' folder.*ImageFolder root"):
        open_samples(tmp_path / "imagenet", split="test")


def test_file_list_accepts_both_separators(tmp_path):
    root = write_image_folder(tmp_path / "set", per_class=1)
    listing = tmp_path / "set" / "list.txt"
    listing.write_text("circle/000.png 0\n# a comment\n\ncross/000.png, 1\n")
    names = tmp_path / "names.txt"
    names.write_text("n0 round thing\nn1 crossed thing\n")
    samples = file_list(listing, class_names=names)
    assert [label for _, label in samples.samples] == [0, 1]
    assert samples.samples[0][0] == str((root / "circle" / "000.png").resolve())
    assert samples.classes == ["round thing", "crossed thing"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("circle/000.png\n", "expected '<image path> <integer label>'"),
     ("circle/000.png zero\n", "list.txt:1"),
     ("", "is empty")],
)
def test_malformed_file_list_names_the_line_and_the_layout(tmp_path, content, message):
    listing = tmp_path / "list.txt"
    listing.write_text(content)
    with pytest.raises(MobileReproError, match=message):
        file_list(listing)


@pytest.mark.parametrize("make", ["missing", "empty", "flat"])
def test_wrong_root_names_the_expected_layout(tmp_path, make):
    root = tmp_path / "data"
    if make != "missing":
        root.mkdir()
    if make == "flat":
        (root / "loose.jpg").write_bytes(b"")
    with pytest.raises(MobileReproError, match=r"expected an ImageFolder root \(<root>/<class>/<image>.jpg\)"):
        open_samples(root)


def test_corrupt_images_are_skipped_and_counted(tmp_path):
    root = write_image_folder(tmp_path / "set", per_class=3)
    (root / "circle" / "001.png").write_bytes(b"not a png at all")
    (root / "cross" / "002.png").write_bytes(b"")
    dataset = ImageDataset(image_folder(root), transform=EvalTransform(size=16, crop_pct=1.0).build())
    images, labels, skipped = collate_skipping([dataset[i] for i in range(len(dataset))])
    assert images.shape == (7, 3, 16, 16) and len(labels) == 7
    assert sorted(s.path.rsplit("/", 2)[-2] for s in skipped) == ["circle", "cross"]
    assert all(s.reason for s in skipped)


def test_a_batch_of_only_corrupt_images_is_empty_not_an_error(tmp_path):
    root = write_image_folder(tmp_path / "set", per_class=1)
    for path in root.rglob("*.png"):
        path.write_bytes(b"broken")
    dataset = ImageDataset(image_folder(root), transform=EvalTransform(size=16).build())
    images, labels, skipped = collate_skipping([dataset[i] for i in range(len(dataset))])
    assert len(labels) == 0 and len(skipped) == 3


def test_augmentation_depends_only_on_seed_epoch_and_index(tmp_path):
    samples = image_folder(write_image_folder(tmp_path / "set", per_class=2))
    transform = TrainTransform(size=16, augmentation="autoaugment").build()
    first = ImageDataset(samples, transform=transform, seed=3, epoch=1)
    again = ImageDataset(samples, transform=transform, seed=3, epoch=1)
    torch.manual_seed(123)  # the global RNG does not matter
    assert torch.equal(first[4][0], again[4][0])
    other_epoch = ImageDataset(samples, transform=transform, seed=3, epoch=2)
    assert not torch.equal(first[4][0], other_epoch[4][0])


def test_eval_transform_resizes_then_crops(tmp_path):
    samples = image_folder(write_image_folder(tmp_path / "set", per_class=1, size=40))
    transform = EvalTransform(size=20, crop_pct=0.8, normalisation="none")
    image, _ = ImageDataset(samples, transform=transform.build())[0]
    assert image.shape == (3, 20, 20)
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert "resize 25" in transform.describe()


def test_tf_normalisation_maps_pixels_to_about_minus_one_to_one(tmp_path):
    samples = image_folder(write_image_folder(tmp_path / "set", per_class=1))
    image, _ = ImageDataset(samples, transform=EvalTransform(size=24, crop_pct=1.0,
                                                             normalisation="tf_127_128").build())[0]
    assert -1.0 <= float(image.min()) and float(image.max()) <= 128 / 128


@pytest.mark.parametrize(("field", "value"), [("normalisation", "imagenett"), ("interpolation", "cubic")])
def test_unknown_transform_settings_are_one_line_errors(field, value):
    with pytest.raises(MobileReproError, match=f"unknown {field} {value!r}"):
        EvalTransform(**{field: value}).build()


def test_split_is_stratified_disjoint_and_deterministic(tmp_path):
    samples = image_folder(write_image_folder(tmp_path / "set", per_class=10))
    train, val = split_per_class(samples, 0.2, seed=1)
    assert len(train) == 24 and len(val) == 6
    assert {p for p, _ in train.samples}.isdisjoint({p for p, _ in val.samples})
    assert sorted(val.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    assert split_per_class(samples, 0.2, seed=1)[1].samples == val.samples
    assert split_per_class(samples, 0.2, seed=2)[1].samples != val.samples
    limited, _ = split_per_class(samples, 0.5, seed=1, per_class_limit=4)
    assert len(limited) == 6
