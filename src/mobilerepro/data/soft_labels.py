"""Offline soft labels (MobileNetV4 §8): the teacher's view of every augmented image, stored once, replayed exactly.

For each (replica, image) the augmentation is a pure function of its seed (`data.datasets.sample_seed`): an
Inception crop, then RandAugment (`d1`, the paper's l2m9: 2 ops at magnitude 9) or Mixup with a partner image (`d2`,
"extreme" Mixup: λ ~ Beta(α, α) with a small α, our *choice* — the paper gives none), then a JPEG round trip. The
teacher's softmax of those pixels is stored as its `top_k` classes and probabilities (fp16 probabilities and uint16
class ids: 4 bytes per kept class instead of 2 per class of the full distribution — 40 bytes for ImageNet's top 10
against 2000 for all 1000; the mass beyond the top k is spread evenly over the other classes when read back, and when
`top_k` ≥ the number of classes, as for CIFAR-10, the full distribution is kept).

Layout of a store folder: `manifest.json` (schema, teacher digest, augmentation and its digest, dataset fingerprint,
replicas, world size, and — once `finalize` checked that every (replica, image) is there exactly once — every shard
with its record count and SHA-256) and `shard-<rank>-<n>.npz` (numpy arrays: replica, image, seed, partner, lam,
top-k classes, top-k probabilities). Rank r of N writes the images with index ≡ r (mod N), in shards written whole
(temporary name, then rename), so a killed writer started again continues after its last whole shard, and no record
is written twice (the shard size is part of the store's identity: another one would cut the records differently).
`SoftLabels` (which the trainer reads) serves a finalized store as a dataset that reproduces the exact pixels the
teacher saw; a store made by another teacher, augmentation or dataset is refused with one line.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from mobilerepro import MobileReproError, paper
from mobilerepro.data.datasets import SampleList, sample_seed
from mobilerepro.results import content_digest, file_sha256, write_atomically

STORE_SCHEMA = "mobilerepro-soft-labels/1"
ARRAYS = ("replica", "image", "seed", "partner", "lam", "top_classes", "top_probs")


def _store_choice(name: str) -> float:
    """A setting of the stores' augmentation the paper does not give: a choice, with its reason, in the paper data."""
    return paper.value(paper.load("mobilenetv4")["table8"]["store_augmentation"][name])


@dataclass(frozen=True)
class Augmentation:
    """What the teacher sees: `kind` d1 (Inception crop + RandAugment) or d2 (Inception crop + Mixup)."""

    kind: str
    size: int
    crop_scale: tuple[float, float] = (0.08, 1.0)
    randaugment_ops: int = 2
    randaugment_magnitude: int = 9
    mixup_alpha: float = field(default_factory=lambda: _store_choice("mixup_alpha"))
    jpeg_quality: int = field(default_factory=lambda: int(_store_choice("jpeg_quality")))
    seed: int = 0

    def __post_init__(self):
        if self.kind not in ("d1", "d2"):
            raise MobileReproError(f"unknown augmentation {self.kind!r} (d1: RandAugment, d2: Mixup)")

    @property
    def digest(self) -> str:
        return content_digest(asdict(self))


def teacher_digest(teacher: torch.nn.Module) -> str:
    """The identity of a teacher: a digest of its weights (names, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(teacher.state_dict().items()):
        digest.update(name.encode() + str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def dataset_fingerprint(samples: SampleList) -> str:
    return content_digest([(Path(path).name, label) for path, label in samples.samples])


def _image(samples: SampleList, index: int):
    from PIL import Image

    with Image.open(samples.samples[index][0]) as image:
        return image.convert("RGB")


def augmented(samples: SampleList, augmentation: Augmentation, replica: int, index: int) -> tuple[torch.Tensor, dict]:
    """The pixels (uint8, C x H x W, after the JPEG round trip) of one record, and its drawn parameters."""
    from PIL import Image
    from torchvision.transforms import v2

    seed = sample_seed(augmentation.seed, replica, index)
    crop = v2.RandomResizedCrop(augmentation.size, scale=augmentation.crop_scale, antialias=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        picture = v2.functional.pil_to_tensor(crop(_image(samples, index)))
        partner, lam = -1, 1.0
        if augmentation.kind == "d1":
            picture = v2.RandAugment(augmentation.randaugment_ops, augmentation.randaugment_magnitude)(picture)
        else:
            partner = int(torch.randint(len(samples), ()).item())
            lam = float(torch.distributions.Beta(augmentation.mixup_alpha, augmentation.mixup_alpha).sample())
            other = v2.functional.pil_to_tensor(crop(_image(samples, partner)))
            picture = (lam * picture.float() + (1 - lam) * other.float()).round().clamp(0, 255).to(torch.uint8)
    buffer = io.BytesIO()
    Image.fromarray(picture.permute(1, 2, 0).numpy()).save(buffer, format="JPEG", quality=augmentation.jpeg_quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        pixels = v2.functional.pil_to_tensor(decoded.convert("RGB"))
    return pixels, {"seed": seed, "partner": partner, "lam": lam}


def _header(teacher: str, augmentation: Augmentation, samples: SampleList, replicas: int, world: int,
            top_k: int, shard_size: int) -> dict:
    return {"schema": STORE_SCHEMA, "teacher": teacher, "augmentation": asdict(augmentation),
            "augmentation_digest": augmentation.digest, "dataset": dataset_fingerprint(samples),
            "images": len(samples), "classes": len(samples.classes), "replicas": replicas, "world": world,
            "top_k": min(top_k, len(samples.classes)), "shard_size": shard_size}


def _check_header(found: dict, expected: dict, folder: Path) -> None:
    for key, what in (("schema", "schema"), ("teacher", "teacher"), ("augmentation_digest", "augmentation"),
                      ("dataset", "dataset"), ("replicas", "number of replicas"), ("world", "number of writers"),
                      ("top_k", "top-k"), ("shard_size", "shard size")):
        if found.get(key) != expected[key]:
            raise MobileReproError(f"the soft-label store {folder} was made with another {what} "
                                   f"({found.get(key)!r}, expected {expected[key]!r}): use another folder")


def write(folder: Path, samples: SampleList, teacher: torch.nn.Module, preprocess, augmentation: Augmentation, *,
          replicas: int = 1, rank: int = 0, world: int = 1, top_k: int = 10, shard_size: int = 256,
          batch_size: int = 64, device: str | torch.device = "cpu", progress: bool = False) -> int:
    """Write this rank's records (resuming after its last whole shard); returns how many it wrote now. `preprocess`
    maps the uint8 pixels to the teacher's input (e.g. float + normalisation); the teacher runs on `device`."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    header = _header(teacher_digest(teacher), augmentation, samples, replicas, world, top_k, shard_size)
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        _check_header(json.loads(manifest_path.read_text()), header, folder)
    else:
        write_atomically(manifest_path, json.dumps(header, indent=1).encode())
    mine = [(replica, index) for replica in range(replicas) for index in range(rank, len(samples), world)]
    shards = [mine[i:i + shard_size] for i in range(0, len(mine), shard_size)]
    teacher.eval().to(device)
    written = 0
    for number, records in enumerate(tqdm(shards, desc=f"soft labels, rank {rank}", unit="shard",
                                          disable=not progress)):
        path = folder / f"shard-{rank:03d}-{number:05d}.npz"
        if path.exists():
            continue  # written whole before an interruption
        columns = {name: [] for name in ARRAYS}
        for start in range(0, len(records), batch_size):
            part = records[start:start + batch_size]
            views = [augmented(samples, augmentation, replica, index) for replica, index in part]
            with torch.no_grad():
                inputs = torch.stack([preprocess(p) for p, _ in views]).to(device)
                probabilities = torch.softmax(teacher(inputs).float(), 1).cpu()
            top = probabilities.topk(header["top_k"], dim=1)
            for (replica, index), (_, drawn) in zip(part, views, strict=True):
                columns["replica"].append(replica)
                columns["image"].append(index)
                columns["seed"].append(drawn["seed"])
                columns["partner"].append(drawn["partner"])
                columns["lam"].append(drawn["lam"])
            columns["top_classes"].append(top.indices.numpy().astype(np.uint16))
            columns["top_probs"].append(top.values.numpy().astype(np.float16))
        arrays = {"replica": np.array(columns["replica"], dtype=np.int32),
                  "image": np.array(columns["image"], dtype=np.int64),
                  "seed": np.array(columns["seed"], dtype=np.int64),
                  "partner": np.array(columns["partner"], dtype=np.int64),
                  "lam": np.array(columns["lam"], dtype=np.float32),
                  "top_classes": np.concatenate(columns["top_classes"]),
                  "top_probs": np.concatenate(columns["top_probs"])}
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_atomically(path, buffer.getvalue())
        written += len(records)
    return written


def finalize(folder: Path) -> dict:
    """Check that every (replica, image) is stored exactly once, then record every shard's count and checksum."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    seen = np.zeros((manifest["replicas"], manifest["images"]), dtype=np.int64)
    shards = []
    for path in sorted(folder.glob("shard-*.npz")):
        with np.load(path) as shard:
            np.add.at(seen, (shard["replica"], shard["image"]), 1)
            count = len(shard["image"])
        shards.append({"file": path.name, "records": count, "sha256": file_sha256(path)})
    missing, doubled = int((seen == 0).sum()), int((seen > 1).sum())
    if missing or doubled:
        raise MobileReproError(f"the soft-label store {folder} is not complete: {missing} records missing, {doubled} "
                               "stored twice (run the missing writers again)")
    manifest["shards"] = shards
    write_atomically(folder / "manifest.json", json.dumps(manifest, indent=1).encode())
    return manifest


class SoftLabels(torch.utils.data.Dataset):
    """A finalized store as a dataset: (the exact pixels the teacher saw, the teacher's distribution, the label)."""

    def __init__(self, folder: Path, samples: SampleList, teacher: str, augmentation: Augmentation, *,
                 replicas: int | None = None, world: int | None = None, top_k: int | None = None):
        self.folder, self.samples, self.augmentation = Path(folder), samples, augmentation
        path = self.folder / "manifest.json"
        if not path.exists():
            raise MobileReproError(f"{self.folder} holds no soft-label store (no manifest.json)")
        manifest = json.loads(path.read_text())
        if "shards" not in manifest:
            raise MobileReproError(f"the soft-label store {self.folder} was never finalized: run its writers to the "
                                   "end, then finalize it")
        expected = _header(teacher, augmentation, samples, replicas or manifest["replicas"],
                           world or manifest["world"], top_k or manifest["top_k"], manifest["shard_size"])
        _check_header(manifest, expected, self.folder)
        columns = {name: [] for name in ARRAYS}
        for entry in manifest["shards"]:
            shard_path = self.folder / entry["file"]
            if not shard_path.exists() or file_sha256(shard_path) != entry["sha256"]:
                raise MobileReproError(f"shard {shard_path} is missing or damaged (its checksum differs from the "
                                       "manifest's): write the store again")
            with np.load(shard_path) as shard:
                for name in ARRAYS:
                    columns[name].append(shard[name])
        self.records = {name: np.concatenate(parts) for name, parts in columns.items()}
        self.classes = manifest["classes"]

    @classmethod
    def open(cls, folder: Path, samples: SampleList, teacher: str) -> SoftLabels:
        """A finalized store read with the augmentation it records; the teacher and the dataset must match."""
        path = Path(folder) / "manifest.json"
        if not path.exists():
            raise MobileReproError(f"{folder} holds no soft-label store (no manifest.json)")
        recorded = json.loads(path.read_text())["augmentation"]
        recorded["crop_scale"] = tuple(recorded["crop_scale"])
        return cls(folder, samples, teacher, Augmentation(**recorded))

    def __len__(self) -> int:
        return len(self.records["image"])

    def distribution(self, position: int) -> torch.Tensor:
        """The stored top-k probabilities, the rest of the mass spread evenly over the other classes."""
        probabilities = torch.zeros(self.classes)
        kept = torch.from_numpy(self.records["top_probs"][position].astype(np.float32))
        classes = torch.from_numpy(self.records["top_classes"][position].astype(np.int64))
        probabilities[classes] = kept
        others = self.classes - len(classes)
        if others:
            probabilities[probabilities == 0] = max(0.0, 1.0 - float(kept.sum())) / others
        return probabilities / probabilities.sum()

    def __getitem__(self, position: int):
        replica, index = int(self.records["replica"][position]), int(self.records["image"][position])
        pixels, _ = augmented(self.samples, self.augmentation, replica, index)
        return pixels, self.distribution(position), self.samples.samples[index][1]


class StudentSet(torch.utils.data.Dataset):
    """The student's training set: the records of one or more stores (D1, D2, or both mixed in proportion to their
    records), each the replayed pixels through the student's own transform (the trainer sets `transform`: flips and
    normalisation only, MNv4 §8) and the teacher's distribution as the target. Like `ImageDataset`, a record's
    random draws are a pure function of (seed, epoch, index)."""

    def __init__(self, stores: list[SoftLabels], seed: int = 0):
        if not stores:
            raise MobileReproError("a student set needs at least one soft-label store")
        self.stores, self.seed, self.epoch, self.transform = stores, seed, 0, None
        self.index = [(s, position) for s, store in enumerate(stores) for position in range(len(store))]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int):
        store, position = self.index[index]
        pixels, distribution, _ = self.stores[store][position]
        if self.transform is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed(self.seed, self.epoch, index))
                pixels = self.transform(pixels)
        return pixels, distribution


@dataclass(frozen=True)
class StoredTargets:
    """Training against the teacher's stored distributions (MNv4 §8), the trainer's other kind of targets beside
    `train.trainer.HardLabels`: the stores' records as the training set, the student's images flipped at most (the
    stored pixels carry the augmentation: no crop, RandAugment or Mixup), cross-entropy against the distribution."""

    stores: tuple[str, ...]
    teacher: str | None

    def train_set(self, samples: SampleList, seed: int) -> StudentSet:
        if not self.teacher:
            raise MobileReproError("distilling from stored soft labels needs the teacher's digest (`teacher`): a "
                                   "store made by another teacher must not be used by mistake")
        return StudentSet([SoftLabels.open(Path(folder), samples, self.teacher) for folder in self.stores], seed=seed)

    def transform(self, size: int, config, recipe):
        from mobilerepro.data.transforms import TrainTransform

        return TrainTransform(size=size, crop=False, interpolation=config.interpolation,
                              normalisation=config.normalisation)

    def criterion(self, recipe, num_classes: int):
        """(the loss, no Mixup)."""
        from timm.loss import SoftTargetCrossEntropy

        return SoftTargetCrossEntropy(), None
