"""mobilerepro's node in OpenMMLab's registry tree: mmengine imports `<scope>.registry` when a config names a type
in the `mobilerepro` scope (`type='mobilerepro.MobileOne'`), which registers the backbones."""

from mobilerepro.dense import DET_MODELS, SEG_MODELS

__all__ = ["DET_MODELS", "SEG_MODELS"]
