"""The teachers. At reduced scale a real one: EfficientNet-Lite0's ImageNet weights (the only real ones offline)
fine-tuned on a classification split, with its held-out accuracy. At full scale the user's: any timm model's
checkpoint (`timm_teacher`), read with `weights_only=True`, fed as timm's configuration of that model says.

The backbone keeps its weights, the 1000-class head is replaced by one for the split's classes, and the whole
network is fine-tuned with AdamW and a cosine schedule over Inception crops and flips at `size` px (TF's
normalisation, as its weights expect). The run is cached in its folder (`teacher.pt`, loaded with
`weights_only=True`, and `teacher.json` with its accuracy): a finished teacher is read back, not trained again.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mobilerepro import MobileReproError
from mobilerepro.data.datasets import ImageDataset, SampleList, collate_skipping
from mobilerepro.data.transforms import EvalTransform, TrainTransform
from mobilerepro.models.pretrained import LITE0_NORMALISATION, efficientnet_lite0, read_state_dict
from mobilerepro.results import write_json
from mobilerepro.train.evaluate import evaluate
from mobilerepro.train.trainer import atomic_save


@dataclass(frozen=True)
class TeacherRecipe:
    size: int = 64
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0


def lite0_teacher(classes: int) -> torch.nn.Module:
    """EfficientNet-Lite0 with its ImageNet weights and a new `classes`-way head."""
    teacher = efficientnet_lite0()
    teacher._fc = torch.nn.Linear(teacher._fc.in_features, classes)
    return teacher


def teacher_input(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (a soft-label store's views) -> Lite0's input, (x - 127) / 128 as its TF weights expect."""
    return (pixels.float() - 127.0) / 128.0


def timm_teacher(checkpoint: str | Path, model_name: str, classes: int):
    """A user's teacher: the timm architecture `model_name` with the weights of `checkpoint` (a state dict, or a
    training checkpoint holding one under `state_dict` / `model`), in eval mode, and the function that turns a
    store's uint8 pixels into its input (resized to its input size, normalised with its mean and std)."""
    import timm
    from timm.data import resolve_data_config
    from torchvision.transforms import v2

    if not Path(checkpoint).expanduser().is_file():
        raise MobileReproError(f"teacher checkpoint {str(checkpoint)!r} does not exist (TEACHER=/path/to/checkpoint)")
    if not timm.is_model(model_name):
        raise MobileReproError(f"{model_name!r} is not a timm model (TEACHER_MODEL=<timm name>, e.g. "
                               "tf_efficientnet_l2)")
    teacher = timm.create_model(model_name, pretrained=False, num_classes=classes)
    state = read_state_dict(checkpoint, "teacher")
    try:
        teacher.load_state_dict(state)
    except RuntimeError as error:
        lines = str(error).splitlines()  # torch's first line names the model; the next one says what differs
        raise MobileReproError(f"the weights in {checkpoint} do not fit {model_name} with {classes} classes: "
                               f"{lines[min(1, len(lines) - 1)].strip()}") from None
    data = resolve_data_config({}, model=teacher)
    size = data["input_size"][-1]
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in (data["mean"], data["std"]))

    def preprocess(pixels: torch.Tensor) -> torch.Tensor:
        resized = v2.functional.resize(pixels, [size, size], antialias=True)
        return (resized.float() / 255 - mean) / std

    return teacher.eval(), preprocess


def finetune(train: SampleList, val: SampleList, folder: Path, recipe: TeacherRecipe = TeacherRecipe(), *,
             progress: bool = True) -> tuple[torch.nn.Module, dict]:
    """The fine-tuned teacher (eval mode) and its record: held-out top-1/top-5, the recipe, the training time."""
    import time

    folder = Path(folder)
    weights, record_path = folder / "teacher.pt", folder / "teacher.json"
    teacher = lite0_teacher(len(train.classes))
    if weights.exists() and record_path.exists():
        teacher.load_state_dict(torch.load(weights, weights_only=True))
        return teacher.eval(), json.loads(record_path.read_text())
    torch.manual_seed(recipe.seed)
    transform = TrainTransform(size=recipe.size, scale=(0.25, 1.0), normalisation=LITE0_NORMALISATION).build()
    loader = DataLoader(ImageDataset(train, transform, seed=recipe.seed), batch_size=recipe.batch_size, shuffle=True,
                        drop_last=True, collate_fn=collate_skipping,
                        generator=torch.Generator().manual_seed(recipe.seed))
    optimizer = torch.optim.AdamW(teacher.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    total = recipe.epochs * len(loader)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    loss_function = torch.nn.CrossEntropyLoss()
    started = time.perf_counter()
    teacher.train()
    with tqdm(total=total, desc="fine-tuning the teacher", unit="step", disable=not progress) as bar:
        for epoch in range(recipe.epochs):
            loader.dataset.epoch = epoch
            for images, labels, _ in loader:
                loss = loss_function(teacher(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                bar.update()
                bar.set_postfix(loss=f"{float(loss):.3f}", refresh=False)
    seconds = time.perf_counter() - started
    teacher.eval()
    val_loader = DataLoader(ImageDataset(val, EvalTransform(recipe.size, 1.0, normalisation=LITE0_NORMALISATION)
                                         .build()), batch_size=recipe.batch_size, collate_fn=collate_skipping)
    result = evaluate(teacher, val_loader, progress=progress, description="evaluating the teacher")
    record = {"top1": result.top1, "top5": result.top5, "val_images": len(val), "train_images": len(train),
              "recipe": asdict(recipe), "seconds": seconds}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save(teacher.state_dict(), weights)
    write_json(record_path, record)
    return teacher, record
