"""Real weights through our evaluation path: EfficientNet-Lite0 on 1300 real ImageNet val images.

MobileOne and MobileNetV4 weights are not obtainable offline, so this is the project's evidence that its
evaluation numbers mean something: the only real ImageNet weights available (EfficientNet-Lite0, TF-trained)
go through *our* file-list reader, *our* eval transforms and *our* top-k evaluator under several protocols. The
reference protocol must give the same per-image predictions as an independent path written from the image bytes up
(`independent_predictions`: PIL decode, PIL resize, the TF normalisation in numpy, the model), and a wrong
normalisation and a wrong class mapping must be visible in the result, or the pipeline could not tell a broken
evaluation from a working one. The official full-validation top-1 is shown as context only: the subset is not the
full validation set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from torch.utils.data import DataLoader

from mobilerepro import MobileReproError, paper
from mobilerepro.data import resolve
from mobilerepro.data.datasets import ImageDataset, collate_skipping, file_list
from mobilerepro.data.prepare import missing_data_error
from mobilerepro.data.transforms import EvalTransform
from mobilerepro.experiments._base import BaseConfig, Experiment, Outcome, Result
from mobilerepro.measure.stats import wilson_interval
from mobilerepro.models.pretrained import LITE0_INPUT_SIZE, LITE0_NORMALISATION, efficientnet_lite0
from mobilerepro.report import save_figure
from mobilerepro.results import write_csv
from mobilerepro.train.evaluate import evaluate
from mobilerepro.verdicts import Interval, Spreads

REFERENCE = "tf_resize"
WRONG_NORMALISATIONS = ("imagenet_mean_std", "no_normalisation")
WRONG_MAPPING = "labels_1001"


@dataclass(frozen=True)
class Protocol:
    """One way of evaluating: a transform and a label file. `correct` says whether it is a valid protocol."""

    name: str
    description: str
    transform: EvalTransform
    labels: str = "dataset.txt"
    correct: bool = True


def _tf(crop_pct: float, interpolation: str = "bilinear", normalisation: str = LITE0_NORMALISATION) -> EvalTransform:
    return EvalTransform(LITE0_INPUT_SIZE, crop_pct, interpolation, normalisation)


PROTOCOLS = {
    p.name: p
    for p in (
        Protocol("tf_resize", "TF normalisation, resize to 224 (the images are 227 px already)", _tf(1.0)),
        Protocol("tf_crop_0.875", "TF normalisation, resize 256 + center crop 224, bilinear", _tf(0.875)),
        Protocol("tf_crop_0.875_bicubic", "TF normalisation, resize 256 + center crop 224, bicubic",
                 _tf(0.875, "bicubic")),
        Protocol("imagenet_mean_std", "WRONG: torchvision's ImageNet mean/std instead of TF's",
                 _tf(1.0, normalisation="imagenet"), correct=False),
        Protocol("no_normalisation", "WRONG: pixels in [0, 1], not normalised", _tf(1.0, normalisation="none"),
                 correct=False),
        Protocol("labels_1001", "WRONG: labels of a 1001-class (background + 1000) model, off by one",
                 _tf(1.0), labels="dataset_1001.txt", correct=False),
    )
}


@dataclass(frozen=True)
class Lite0Config(BaseConfig):
    protocols: list[str] | None = None
    limit: int | None = None
    batch_size: int = 50
    threads: int = 2
    data: str = "imagenet-val-1300"


def official_top1() -> dict:
    return paper.load("evaluation")["lite0_eval"]["official_top1_full_val"]


def independent_predictions(model, paths: list, batch_size: int) -> np.ndarray:
    """Top-1 class of every image by a path that shares nothing with ours but the model: PIL decodes and resizes
    to 224 x 224 (bilinear), numpy applies the TF normalisation (x - 127) / 128."""
    import torch
    from PIL import Image

    predictions = []
    for start in range(0, len(paths), batch_size):
        batch = []
        for path in paths[start:start + batch_size]:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB").resize((LITE0_INPUT_SIZE, LITE0_INPUT_SIZE),
                                                                Image.Resampling.BILINEAR), dtype=np.float32)
            batch.append(((pixels - 127.0) / 128.0).transpose(2, 0, 1))
        with torch.inference_mode():
            predictions.append(model(torch.from_numpy(np.stack(batch))).argmax(1).numpy())
    return np.concatenate(predictions)


def _dataset_folder(config: Lite0Config) -> Path:
    folder = resolve(config.data)
    if not (folder / "dataset.txt").is_file():
        raise missing_data_error("imagenet-val-1300", folder, "the imagenet-val-1300 folder (dataset.txt, "
                                 "dataset_1001.txt, synset_words.txt, images/)")
    return folder


def evidence(frame: pd.DataFrame, agreement: dict, classes: int) -> list:
    rows = frame.set_index("protocol")
    ref = rows.loc[REFERENCE]
    found = [("independent_agreement", f"{REFERENCE} vs the independent path", Interval(
        agreement["fraction"], agreement["ci_low"], agreement["ci_high"], agreement["images"],
        f"{agreement['agree']} of {agreement['images']} images get the same top-1 "
        f"({100 * agreement['fraction']:.2f} %, 95 % CI {100 * agreement['ci_low']:.2f}-"
        f"{100 * agreement['ci_high']:.2f} %)"))]
    for name in (n for n in WRONG_NORMALISATIONS if n in rows.index):
        row = rows.loc[name]
        found.append(("wrong_normalisation_visible", name, Spreads(
            (row.top1_ci_low, row.top1_ci_high), (ref.top1_ci_low, ref.top1_ci_high), int(row.images),
            f"top-1 {row.top1:.2f} % [{row.top1_ci_low:.1f}, {row.top1_ci_high:.1f}] vs {ref.top1:.2f} % "
            f"[{ref.top1_ci_low:.1f}, {ref.top1_ci_high:.1f}]")))
    if WRONG_MAPPING in rows.index:
        row, chance = rows.loc[WRONG_MAPPING], 100 / classes
        # the ratio's interval from the two intervals: its lowest over the reference's highest and vice versa
        found.append(("wrong_mapping_visible", WRONG_MAPPING, Interval(
            row.top1 / ref.top1, row.top1_ci_low / ref.top1_ci_high, row.top1_ci_high / ref.top1_ci_low,
            int(row.images), f"top-1 {row.top1:.2f} % vs {ref.top1:.2f} % (ratio {row.top1 / ref.top1:.3f}; "
            f"chance is {chance:.2f} %)")))
    return found


def measure(config: Lite0Config, directory: Path, progress: bool, files: dict) -> Outcome:
    import torch

    torch.set_num_threads(config.threads)
    folder = _dataset_folder(config)
    model = efficientnet_lite0()
    class_names = (folder / "synset_words.txt").read_text().splitlines()
    rows, evaluations = [], {}
    for name in config.protocols:
        protocol = PROTOCOLS[name]
        dataset = ImageDataset(_samples(folder, config, protocol), transform=protocol.transform.build())
        loader = DataLoader(dataset, batch_size=config.batch_size, collate_fn=collate_skipping)
        result = evaluate(model, loader, progress=progress, description=name)
        evaluations[name] = result
        correct1 = int((result.predicted == result.labels).sum())
        low, high = wilson_interval(correct1, result.n)
        rows.append({"protocol": name, "description": protocol.description, "valid": protocol.correct,
                     "transform": protocol.transform.describe(), "labels": protocol.labels, "images": result.n,
                     "skipped": len(result.skipped), "top1": result.top1, "top1_ci_low": 100 * low,
                     "top1_ci_high": 100 * high, "top5": result.top5})
    frame = pd.DataFrame.from_records(rows)
    reference = evaluations[REFERENCE]
    samples = _samples(folder, config, PROTOCOLS[REFERENCE])
    if reference.skipped:
        raise MobileReproError(f"{len(reference.skipped)} unreadable images: the agreement check needs every image")
    independent = independent_predictions(model, [path for path, _ in samples.samples], config.batch_size)
    agree = int((independent == reference.predicted).sum())
    low, high = wilson_interval(agree, len(independent))
    agreement = {"agree": agree, "images": len(independent), "fraction": agree / len(independent), "ci_low": low,
                 "ci_high": high, "independent_top1": 100 * float((independent == reference.labels).mean())}
    per_class = reference.per_class([line.split(" ", 1)[1] for line in class_names])
    write_csv(directory / files["per_class"], per_class)
    _examples(ImageDataset(samples), reference, class_names, directory / files["examples"])
    summary = {"data": {"folder": str(folder), "classes_present": int(per_class.shape[0]),
                        "classes": len(class_names)},
               "agreement": agreement, "confusions": _confusions(reference, class_names)}
    return Outcome(frame, summary, evidence(frame, agreement, len(class_names)))


def _samples(folder: Path, config: Lite0Config, protocol: Protocol):
    samples = file_list(folder / protocol.labels)
    if config.limit:
        samples = samples.subset(range(min(config.limit, len(samples))), f"(first {config.limit})")
    return samples


def _confusions(result, class_names: list[str], top: int = 8) -> list[dict]:
    """The most frequent (true, predicted) pairs among the errors."""
    wrong = result.predicted != result.labels
    pairs = pd.Series(list(zip(result.labels[wrong], result.predicted[wrong], strict=True))).value_counts()
    readable = [line.split(" ", 1)[1].split(",")[0] for line in class_names]
    return [{"true": readable[t], "predicted": readable[p], "count": int(n)} for (t, p), n in pairs.head(top).items()]


def draw_protocols(frame: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(10, 4.2), constrained_layout=True)
    y = np.arange(len(frame))[::-1]
    colours = ["#1565c0" if valid else "#c62828" for valid in frame.valid]
    error = np.vstack([frame.top1 - frame.top1_ci_low, frame.top1_ci_high - frame.top1]).clip(min=0)
    ax.barh(y, frame.top1, color=colours, xerr=error, capsize=3, label="top-1 (95 % Wilson CI)")
    ax.scatter(frame.top5, y, marker="|", s=300, color="black", label="top-5", zorder=3)
    official = official_top1()
    ax.axvline(official["value"], color="grey", linestyle="--",
               label=f"official top-1, full 50k val: {paper.cell(official)} % (context, not a target)")
    ax.set_yticks(y, [f"{p}\n({'valid' if v else 'wrong'})" for p, v in zip(frame.protocol, frame.valid, strict=True)])
    ax.set_xlabel("accuracy on the images (%)")
    ax.set_xlim(0, 100)
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("EfficientNet-Lite0 (real weights) through our evaluation path: blue valid, red deliberately wrong")
    return save_figure(fig, path)


def _examples(dataset: ImageDataset, result, class_names: list[str], path: Path, count: int = 12) -> Path:
    """The first `count` images with their true and predicted classes (green right, red wrong)."""
    readable = [line.split(" ", 1)[1].split(",")[0] for line in class_names]
    columns = 6
    fig, axes = plt.subplots((count + columns - 1) // columns, columns, figsize=(2.2 * columns, 5.2),
                             constrained_layout=True)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= min(count, result.n):
            continue
        image, _ = dataset[index]
        ax.imshow(image)
        right = result.predicted[index] == result.labels[index]
        ax.set_title(f"true: {readable[result.labels[index]][:18]}\npred: {readable[result.predicted[index]][:18]}",
                     fontsize=8, color="#2e7d32" if right else "#c62828")
    return save_figure(fig, path)


class Lite0Result(Result):
    terminal_tables = ("protocols",)

    def protocols_table(self) -> pd.DataFrame:
        table = self.rows[["protocol", "valid", "transform", "labels", "images", "skipped", "top1", "top1_ci_low",
                           "top1_ci_high", "top5"]].copy()
        return table.rename(columns={"top1": "top-1 %", "top1_ci_low": "CI low", "top1_ci_high": "CI high",
                                     "top5": "top-5 %"})

    def per_class(self) -> pd.DataFrame:
        return pd.read_csv(self.path("per_class"))

    def hardest_classes(self, count: int = 10) -> pd.DataFrame:
        table = self.per_class()
        table["top1 wrong"] = table.images - table.top1_correct
        return table.sort_values(["top1 wrong", "images"], ascending=False).head(count).reset_index(drop=True)

    def confusions(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.summary["confusions"])

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"protocols": self.protocols_table(), "hardest_classes": self.hardest_classes(),
                "confusions": self.confusions()}

    def summary_numbers(self) -> list[str]:
        agreement = self.summary["agreement"]
        numbers = [f"{row.protocol}: top-1 {row.top1:.2f} % [{row.top1_ci_low:.1f}, {row.top1_ci_high:.1f}], "
                   f"top-5 {row.top5:.2f} % ({'valid' if row.valid else 'deliberately wrong'})"
                   for row in self.rows.itertuples()]
        numbers.append(f"independent path (PIL + numpy): same top-1 as ours on {agreement['agree']} of "
                       f"{agreement['images']} images; its own top-1 {agreement['independent_top1']:.2f} %")
        numbers.append(f"context: official top-1 on the full 50 000-image validation set "
                       f"{paper.cell(official_top1())} % (this subset is not that set)")
        return numbers


class Lite0Eval(Experiment):
    title = "Pipeline check — EfficientNet-Lite0 real weights through our evaluation path"
    description = "EfficientNet-Lite0 real weights on 1300 real ImageNet val images, valid and wrong protocols"
    config_type = Lite0Config
    result_type = Lite0Result
    datasets = ("imagenet-val-1300",)
    extra_files = {"per_class": "lite0_eval_per_class.csv", "examples": "lite0_eval_examples.png"}
    shows_dataset_images = True  # the examples figure: ImageNet val images with their labels and predictions
    profiles = {"smoke": {"protocols": ["tf_resize", "no_normalisation", "labels_1001"], "limit": 40},
                "quick": {}, "full": {}}

    def validate(self, config: Lite0Config) -> Lite0Config:
        protocols = list(config.protocols or PROTOCOLS)
        unknown = [p for p in protocols if p not in PROTOCOLS]
        if unknown:
            raise MobileReproError(f"unknown protocol {unknown[0]!r} (choose from: {', '.join(PROTOCOLS)})")
        if REFERENCE not in protocols:
            raise MobileReproError(f"the protocols must include the reference {REFERENCE!r}")
        return Lite0Config(**{**config.as_dict(), "protocols": protocols, "batch_size": int(config.batch_size),
                              "threads": int(config.threads), "data": str(config.data)})

    def measure(self, config: Lite0Config, directory: Path, progress: bool) -> Outcome:
        return measure(config, directory, progress, self.files)

    def figure(self, result: Lite0Result, path: Path) -> None:
        draw_protocols(result.rows, path)


EXPERIMENT = Lite0Eval()
