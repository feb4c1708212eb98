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
