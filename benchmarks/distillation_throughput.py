"""What offline soft labels cost a student, against hard labels and against an online teacher, side by side.

Three ways to train the same student (MNv4-Conv-S) on the same CIFAR-10 images, batch and optimizer, in alternating
rounds of `--steps` steps each:

- hard labels: the image pipeline of plain training (Inception crop, flip, RandAugment l2m9) and cross-entropy;
- stored labels: the records of a D1 soft-label store (`data.soft_labels`), their pixels replayed from the stored seed
  (crop, RandAugment, JPEG round trip — the teacher's view), flipped, and the stored distribution as the target;
- online teacher: the hard-label pipeline, plus a forward pass of the teacher (EfficientNet-Lite0's ImageNet
  backbone with a 10-class head) on every batch for its softmax.

Also measured: how fast the teacher writes the store (images/s) and its size per 1000 records. Prints student img/s
(median of the rounds) and the ratios; writes results/benchmarks/distillation_throughput.json. A benchmark: nothing
is asserted. MNv4's "2.5x faster than IN-1k training" is another comparison: whole recipes (400 distillation epochs
against its ImageNet recipe) on 128 TPUs, not per-image student throughput.

    python benchmarks/distillation_throughput.py [--per-class 100] [--size 64] [--batch-size 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from timm.loss import SoftTargetCrossEntropy
from torch.utils.data import DataLoader

from mobilerepro.data import resolve
from mobilerepro.data import soft_labels as store
from mobilerepro.data.datasets import ImageDataset, collate_skipping, image_folder, split_per_class
from mobilerepro.data.transforms import NORMALISATIONS, TrainTransform
from mobilerepro.distill.teacher import lite0_teacher, teacher_input
from mobilerepro.measure.environment import environment_stamp
from mobilerepro.models import zoo
from mobilerepro.results import ensure_writable, results_root, write_json


def round_rate(loader_factory, step, steps: int) -> float:
    """img/s of `steps` training steps over a fresh loader."""
    images, started = 0, time.perf_counter()
    for number, (inputs, targets, _) in enumerate(loader_factory()):
        if number == steps:
            break
        step(inputs, targets)
        images += len(inputs)
    return images / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100, help="CIFAR-10 images per class before the split")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="training steps per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    samples, _ = split_per_class(image_folder(resolve("cifar10-test-jpg/test")), 0.2, seed=0,
                                 per_class_limit=args.per_class)
    teacher = lite0_teacher(len(samples.classes)).eval()
    augmentation = store.Augmentation("d1", args.size)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "d1"
        started = time.perf_counter()
        written = store.write(folder, samples, teacher, teacher_input, augmentation, batch_size=args.batch_size,
                              progress=True)
        store_rate = written / (time.perf_counter() - started)
        store.finalize(folder)
        store_bytes = sum(p.stat().st_size for p in folder.glob("shard-*.npz"))
        soft = store.StudentSet([store.SoftLabels(folder, samples, store.teacher_digest(teacher), augmentation)])
        soft.transform = TrainTransform(size=args.size, crop=False, normalisation="imagenet").build()
        hard = ImageDataset(samples, TrainTransform(size=args.size, augmentation="randaugment",
                                                    normalisation="imagenet").build())
        student = zoo.build_classifier("mnv4_conv_s", num_classes=len(samples.classes), seed=0)
        optimizer = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9)
        hard_loss, soft_loss = torch.nn.CrossEntropyLoss(), SoftTargetCrossEntropy()
        teacher_view = TrainTransform(size=args.size, augmentation="randaugment", normalisation="none").build()
        online = ImageDataset(samples, teacher_view)  # pixels 0..1 for both: the student normalises, Lite0 rescales

        def update(inputs, targets, loss):
            student.train()
            value = loss(student(inputs), targets)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()

        def online_step(inputs, labels):
            with torch.no_grad():
                targets = torch.softmax(teacher(teacher_input(inputs * 255)), 1)
            mean, std = (torch.tensor(v)[:, None, None] for v in NORMALISATIONS["imagenet"])
            update((inputs - mean) / std, targets, soft_loss)

        def loader(dataset):
            return lambda: DataLoader(dataset, batch_size=args.batch_size, shuffle=True, collate_fn=collate_skipping,
                                      generator=torch.Generator().manual_seed(0))

        modes = {"hard labels": (loader(hard), lambda x, y: update(x, y, hard_loss)),
                 "stored labels": (loader(soft), lambda x, y: update(x, y, soft_loss)),
                 "online teacher": (loader(online), online_step)}
        rates = {name: [] for name in modes}
        for round_index in range(args.rounds + 1):
            for name, (factory, step) in modes.items():
                rate = round_rate(factory, step, args.steps)
                if round_index:  # the first round warms every mode up
                    rates[name].append(rate)
            print(f"round {round_index}: " + ", ".join(f"{n} {r[-1]:.1f} img/s" for n, r in rates.items() if r),
                  flush=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    summary = {
        "student_img_per_s": rates, "median_img_per_s": medians,
        "stored_over_hard": medians["stored labels"] / medians["hard labels"],
        "online_over_hard": medians["online teacher"] / medians["hard labels"],
        "stored_over_online": medians["stored labels"] / medians["online teacher"],
        "store": {"records": written, "teacher_img_per_s": store_rate, "bytes_per_1000": 1000 * store_bytes / written},
        "setup": {"student": "mnv4_conv_s", "teacher": "EfficientNet-Lite0 (ImageNet backbone, 10-class head)",
                  "size": args.size, "batch_size": args.batch_size, "steps": args.steps, "threads": args.threads,
                  "train_images": len(samples)},
        "environment": environment_stamp(profile="benchmark", threads=args.threads),
    }
    directory = ensure_writable(results_root() / "benchmarks")
    write_json(directory / "distillation_throughput.json", summary)
    for name, value in medians.items():
        print(f"{name:15s} {value:8.1f} img/s  (rounds: {', '.join(f'{v:.1f}' for v in rates[name])})")
    print(f"stored / hard {summary['stored_over_hard']:.2f}, online / hard {summary['online_over_hard']:.2f}, "
          f"stored / online {summary['stored_over_online']:.2f}")
    print(f"store: teacher labelled {store_rate:.1f} img/s; {summary['store']['bytes_per_1000'] / 1e3:.1f} kB per 1000 "
          f"records; written: {directory / 'distillation_throughput.json'}")


if __name__ == "__main__":
    main()
