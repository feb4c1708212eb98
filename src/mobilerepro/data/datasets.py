"""Image classification datasets in the two layouts people have on disk, read into one sample list.

- **ImageFolder**: `<root>/<class>/<image>` (class index = position in the sorted class folder names; for ImageNet
  that is the standard sorted-synset order). An ImageNet root holding `train/` and `val/` ImageFolders is read by
  naming the split.
- **File list**: a text file of `<path> <label>` (or `<path>, <label>`) lines, paths relative to the list's folder,
  as in `imagenet-val-1300/dataset.txt`; class names optionally from a `synset_words.txt`-style file.

A wrong root or a malformed list raises one line naming the expected layout. An image that cannot be read is not an
error: `ImageDataset` returns a `SkippedImage` in its place, `collate_skipping` drops it from the batch and counts
it, and the trainer and evaluator report the count at the end of the epoch.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from mobilerepro import MobileReproError
from mobilerepro.data import resolve

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")
LAYOUTS = (
    "an ImageFolder root (<root>/<class>/<image>.jpg), an ImageNet root with train/ and val/ ImageFolders, "
    "or a file list of '<path> <label>' lines"
)


@dataclass
class SampleList:
    """(path, label) pairs, the class names, and where they came from."""

    samples: list[tuple[str, int]]
    classes: list[str]
    source: str
    layout: str

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        return np.array([label for _, label in self.samples], dtype=np.int64)

    def subset(self, indices, source_suffix: str) -> SampleList:
        return SampleList([self.samples[i] for i in indices], self.classes, f"{self.source} {source_suffix}",
                          self.layout)


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def image_folder(root: str | os.PathLike) -> SampleList:
    """`<root>/<class>/<image>`; classes in sorted folder-name order."""
    root = resolve(root)
    if not root.is_dir():
        raise MobileReproError(f"dataset root {str(root)!r} does not exist (expected {LAYOUTS})")
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir() and not entry.name.startswith("."))
    samples = []
    for label, name in enumerate(classes):
        for directory, _, files in sorted(os.walk(root / name)):
            samples.extend((os.path.join(directory, f), label) for f in sorted(files) if _is_image(f))
    if not samples:
        raise MobileReproError(f"no images found under {str(root)!r} (expected {LAYOUTS})")
    return SampleList(samples, classes, str(root), "imagefolder")


def read_class_names(path: str | os.PathLike) -> list[str]:
    """One class per line, `<id> <readable name>` (synset_words.txt) or just a name; line i is class i."""
    lines = [line.strip() for line in resolve(path).read_text().splitlines() if line.strip()]
    return [line.split(" ", 1)[1] if " " in line else line for line in lines]


def file_list(path: str | os.PathLike, class_names: str | os.PathLike | None = None) -> SampleList:
    """A `<path> <label>` list; image paths are relative to the list file's folder."""
    path = resolve(path)
    if not path.is_file():
        raise MobileReproError(f"file list {str(path)!r} does not exist (expected {LAYOUTS})")
    samples = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        image, _, label = line.replace(",", " ").strip().rpartition(" ")
        if not image.strip() or not label.lstrip("-").isdigit():
            raise MobileReproError(
                f"{path}:{number}: cannot read {line.strip()!r} (expected '<image path> <integer label>' per line)"
            )
        samples.append((str((path.parent / image.strip()).resolve()), int(label)))
    if not samples:
        raise MobileReproError(f"file list {str(path)!r} is empty (expected '<image path> <integer label>' lines)")
    highest = max(label for _, label in samples)
    classes = read_class_names(class_names) if class_names else [str(i) for i in range(highest + 1)]
    if highest >= len(classes) or min(label for _, label in samples) < 0:
        raise MobileReproError(f"{path}: labels run 0..{highest} but there are {len(classes)} class names")
    return SampleList(samples, classes, str(path), "filelist")


def open_samples(path: str | os.PathLike, *, split: str | None = None,
                 class_names: str | os.PathLike | None = None) -> SampleList:
    """Read a dataset in whichever layout `path` has: a file list, an ImageFolder, or an ImageNet-style root whose
    `split` subfolder is an ImageFolder."""
    path = resolve(path)
    if path.is_file():
        return file_list(path, class_names)
    if split is not None:
        if not (path / split).is_dir():
            raise MobileReproError(f"{str(path)!r} has no {split!r} folder (expected {LAYOUTS})")
        path = path / split
    if not path.is_dir():
        raise MobileReproError(f"dataset {str(path)!r} does not exist (expected {LAYOUTS})")
    return image_folder(path)


def split_per_class(samples: SampleList, val_fraction: float, seed: int = 0,
                    per_class_limit: int | None = None) -> tuple[SampleList, SampleList]:
    """A deterministic stratified train/val split: each class's samples shuffled with `seed`, the first
    `val_fraction` go to val. `per_class_limit` keeps at most that many samples per class (before splitting)."""
    if not 0 < val_fraction < 1:
        raise MobileReproError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    by_class = defaultdict(list)
    for index, (_, label) in enumerate(samples.samples):
        by_class[label].append(index)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in sorted(by_class):
        indices = rng.permutation(by_class[label])[:per_class_limit]
        cut = int(round(len(indices) * val_fraction))
        val.extend(indices[:cut].tolist())
        train.extend(indices[cut:].tolist())
    return samples.subset(sorted(train), "(train split)"), samples.subset(sorted(val), "(val split)")


@dataclass(frozen=True)
class SkippedImage:
    """Stands in for an image that could not be read."""

    path: str
    reason: str


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The random seed of one sample's augmentation in one epoch: augmentation is a pure function of (seed, epoch,
    index), whatever the worker, batch order or resumption point."""
    return (seed * 1_000_003 + epoch) * 16_777_259 + index


@dataclass
class ImageDataset(torch.utils.data.Dataset):
    """Decoded, transformed images with their labels. `transform` and `epoch` may change between epochs (the
    trainer sets them: progressive resolution, reproducible augmentation)."""

    samples: SampleList
    transform: Callable | None = None
    seed: int = 0
    epoch: int = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        from PIL import Image, UnidentifiedImageError

        path, label = self.samples.samples[index]
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
        except (OSError, UnidentifiedImageError, ValueError) as error:
            return SkippedImage(path, f"{type(error).__name__}: {error}")
        if self.transform is None:
            return image, label
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.seed, self.epoch, index))
            return self.transform(image), label


def collate_skipping(batch: list) -> tuple[torch.Tensor, torch.Tensor, list[SkippedImage]]:
    """Stack the readable samples; the unreadable ones come back as a list so the caller can count them."""
    skipped = [item for item in batch if isinstance(item, SkippedImage)]
    good = [item for item in batch if not isinstance(item, SkippedImage)]
    if not good:
        return torch.empty(0), torch.empty(0, dtype=torch.long), skipped
    images = torch.stack([image for image, _ in good])
    if isinstance(good[0][1], torch.Tensor):  # soft targets (a teacher's distribution per image)
        return images, torch.stack([label for _, label in good]), skipped
    labels = torch.tensor([label for _, label in good], dtype=torch.long)
    return images, labels, skipped
