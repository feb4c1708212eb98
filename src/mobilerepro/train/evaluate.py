"""Classification evaluation: top-1 / top-5 over a loader, per-class counts, the model reparameterised first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from mobilerepro.reparam import reparameterize_model


def has_branches(model: torch.nn.Module) -> bool:
    return any(callable(getattr(m, "reparameterize", None)) for m in model.modules() if m is not model)


def inference_form(model: torch.nn.Module) -> torch.nn.Module:
    """The model as it is deployed: eval mode, reparameterised (a copy) when it has reparameterisable blocks."""
    model.eval()
    return reparameterize_model(model) if has_branches(model) else model


@dataclass
class Evaluation:
    """Top-k accuracy (percent) over `n` images, the per-sample top-1 predictions, and the unreadable images."""

    top1: float
    top5: float
    n: int
    labels: np.ndarray
    predicted: np.ndarray
    top5_hit: np.ndarray
    skipped: list[str]

    def per_class(self, class_names: list[str] | None = None) -> pd.DataFrame:
        frame = pd.DataFrame({"label": self.labels, "top1": self.predicted == self.labels, "top5": self.top5_hit})
        table = frame.groupby("label").agg(images=("top1", "size"), top1_correct=("top1", "sum"),
                                           top5_correct=("top5", "sum")).reset_index()
        if class_names is not None:
            table.insert(1, "class", [class_names[i] for i in table.label])
        return table

    def as_dict(self) -> dict:
        return {"top1": self.top1, "top5": self.top5, "n": self.n, "skipped": len(self.skipped)}


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader, *, device: str | torch.device = "cpu", channels_last: bool = False,
             progress: bool = True, description: str = "evaluating") -> Evaluation:
    """Top-1 / top-5 of `model` in its inference form over `loader` (batches of images, labels, skipped images)."""
    model = inference_form(model).to(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    labels, predicted, top5_hit, skipped = [], [], [], []
    for images, targets, unreadable in tqdm(loader, desc=description, unit="batch", disable=not progress,
                                            leave=False):
        skipped.extend(s.path for s in unreadable)
        if not len(targets):
            continue
        logits = model(images.to(device, memory_format=memory_format, non_blocking=True)).float().cpu()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        labels.append(targets)
        predicted.append(top[:, 0])
        top5_hit.append((top == targets[:, None]).any(dim=1))
    labels = torch.cat(labels).numpy() if labels else np.zeros(0, dtype=np.int64)
    predicted = torch.cat(predicted).numpy() if predicted else np.zeros(0, dtype=np.int64)
    top5_hit = torch.cat(top5_hit).numpy() if top5_hit else np.zeros(0, dtype=bool)
    n = len(labels)
    top1 = 100.0 * float((predicted == labels).mean()) if n else float("nan")
    top5 = 100.0 * float(top5_hit.mean()) if n else float("nan")
    return Evaluation(top1, top5, n, labels, predicted, top5_hit, skipped)
