"""The zoo's backbones in OpenMMLab's registries, for mmdet and mmseg configs.

Importing this module (or naming `type='mobilerepro.MobileOne'` in a config: mmengine imports `mobilerepro.registry`
by itself for the scope) registers `MobileOne` and `MobileNetV4` under the scope `mobilerepro` in both mmdet's and
mmseg's `MODELS`. A user's own config can also say `custom_imports=dict(imports=['mobilerepro.dense'])`.
Needs the dense-prediction stack (`make dense-setup`).
"""

from mobilerepro import stack

stack.require()

from mobilerepro.dense.backbones import DET_MODELS, SEG_MODELS, MobileNetV4, MobileOne, ZooBackbone  # noqa: E402

__all__ = ["DET_MODELS", "SEG_MODELS", "MobileNetV4", "MobileOne", "ZooBackbone"]
