"""A tiny real-image dataset on disk, for the data and training tests."""

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("circle", "cross", "square")


def write_image_folder(root: Path, per_class: int = 8, size: int = 24, seed: int = 0) -> Path:
    """`root/<class>/<n>.png`: noisy images whose class is visible in their mean colour."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            pixels = rng.integers(0, 80, size=(size, size, 3), dtype=np.uint8)
            pixels[..., label] += 150
            Image.fromarray(pixels).save(root / name / f"{index:03d}.png")
    return root


def tiny_train_config(image_root, output_dir, **overrides):
    """A MobileOne-S0 run of one epoch at 16 px on the tiny dataset, on one CPU thread."""
    from mobilerepro.train import trainer

    settings = {"output_dir": str(output_dir), "train_data": str(image_root), "model": "mobileone_s0",
                "recipe": "mobileone_s0s1", "recipe_overrides": {"resolution_stages": [[0, 16]], "eval_size": 16},
                "epochs": 1, "batch_size": 4, "device": "cpu", "threads": 1, "progress": False}
    return trainer.TrainConfig(**{**settings, **overrides})
