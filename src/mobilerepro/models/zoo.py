"""The model zoo: one registry, name -> builder + metadata, for every model any experiment measures.

All models are built with random initialisation and no weights (nothing downloads). Baselines come from timm or
torchvision; our own implementations (MobileOne, MobileNetV4) are registered under the paper's names, MobileNetV4
at the input sizes of its Tab. 6. Published numbers are not
stored here: `ModelSpec.published` reads them, with provenance, from `mobilerepro/paper/models.yaml`.

The population covers MobileOne's Tab. 1 / Tab. 9 comparison set: mobile CNNs (MobileNets, NAS-found models,
ShuffleNet, GhostNet), re-parameterisable CNNs (RepVGG, MobileOne) and efficient transformers / hybrids.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from mobilerepro import MobileReproError, paper


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry. `source` says where the implementation comes from (e.g. `timm:mobileone_s0`)."""

    name: str
    family: str
    paper: str
    source: str
    builder: Callable[..., torch.nn.Module]
    input_size: tuple[int, int, int] = (3, 224, 224)
    variant_of: str | None = None  # another form of a zoo model (e.g. as printed vs as coded): not in populations

    @property
    def published(self) -> dict:
        return paper.published_model(self.name)


# Every builder takes the model's own keyword options (e.g. `num_classes`).
def _timm(model_name: str) -> Callable[..., torch.nn.Module]:
    def build(**options):
        import timm

        return timm.create_model(model_name, pretrained=False, **options)

    return build


def _torchvision(model_name: str) -> Callable[..., torch.nn.Module]:
    def build(**options):
        import torchvision

        return getattr(torchvision.models, model_name)(weights=None, **options)

    return build


def _mobilerepro(model_name: str) -> Callable[..., torch.nn.Module]:
    """Our own implementations, named `<family>.<variant>` (e.g. `mobileone.s0`, `mobilenetv4.conv_s`)."""

    def build(**options):
        from mobilerepro.models import mobilenetv4, mobileone

        family, _, variant = model_name.partition(".")
        return {"mobileone": mobileone.mobileone, "mobilenetv4": mobilenetv4.mobilenetv4}[family](variant, **options)

    return build


SOURCES = {"timm": _timm, "torchvision": _torchvision, "mobilerepro": _mobilerepro}


def _spec(name, family, paper_ref, source, input_size=(3, 224, 224), variant_of=None) -> ModelSpec:
    library, _, model_name = source.partition(":")
    if library not in SOURCES or not model_name:
        raise MobileReproError(f"model {name}: source {source!r} is not <library>:<model> with a library among "
                               f"{', '.join(SOURCES)}")
    builder = SOURCES[library](model_name)
    return ModelSpec(name, family, paper_ref, source, builder, input_size, variant_of)


_ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _spec("mobilenet_v1", "MobileNet", "Howard et al. 2017", "timm:mobilenetv1_100"),
        _spec("mobilenet_v2", "MobileNet", "Sandler et al. 2018", "timm:mobilenetv2_100"),
        _spec("mobilenet_v3_large", "MobileNet", "Howard et al. 2019", "timm:mobilenetv3_large_100"),
        _spec("mobilenet_v3_small", "MobileNet", "Howard et al. 2019", "timm:mobilenetv3_small_100"),
        _spec("efficientnet_b0", "NAS", "Tan & Le 2019", "timm:efficientnet_b0"),
        # TF padding ("same"): the form the released ImageNet weights were trained in (models/pretrained.py).
        _spec("efficientnet_lite0", "NAS", "Tan & Le 2019 (EfficientNet-Lite)", "timm:tf_efficientnet_lite0"),
        _spec("mnasnet_a1", "NAS", "Tan et al. 2019", "timm:semnasnet_100"),
        _spec("mixnet_s", "NAS", "Tan & Le 2019 (MixConv)", "timm:mixnet_s"),
        _spec("fbnet_c", "NAS", "Wu et al. 2019", "timm:fbnetc_100"),
        _spec("spnasnet", "NAS", "Stamoulis et al. 2019", "timm:spnasnet_100"),
        _spec("shufflenet_v2_1_0", "ShuffleNet", "Ma et al. 2018", "torchvision:shufflenet_v2_x1_0"),
        _spec("squeezenet_1_1", "SqueezeNet", "Iandola et al. 2016", "torchvision:squeezenet1_1"),
        _spec("ghostnet_1_0", "GhostNet", "Han et al. 2020", "timm:ghostnet_100"),
        _spec("mobilevit_xxs", "MobileViT", "Mehta & Rastegari 2022", "timm:mobilevit_xxs", (3, 256, 256)),
        _spec("mobilevit_xs", "MobileViT", "Mehta & Rastegari 2022", "timm:mobilevit_xs", (3, 256, 256)),
        _spec("mobilevit_s", "MobileViT", "Mehta & Rastegari 2022", "timm:mobilevit_s", (3, 256, 256)),
        _spec("deit_tiny", "ViT", "Touvron et al. 2021", "timm:deit_tiny_patch16_224"),
        _spec("convit_tiny", "ViT", "d'Ascoli et al. 2021", "timm:convit_tiny"),
        _spec("pit_tiny", "ViT", "Heo et al. 2021", "timm:pit_ti_224"),
        _spec("efficientformerv2_s0", "EfficientFormerV2", "Li et al. 2023", "timm:efficientformerv2_s0"),
        _spec("edgenext_xxs", "EdgeNeXt", "Maaz et al. 2022", "timm:edgenext_xx_small"),
        _spec("repvgg_a0", "RepVGG", "Ding et al. 2021", "timm:repvgg_a0"),
        *(
            _spec(f"mobileone_s{i}", "MobileOne", "Vasu et al. 2023", f"mobilerepro:mobileone.s{i}")
            for i in range(5)
        ),
        *(
            _spec(f"mnv4_{name}", "MobileNetV4", "Qin et al. 2024", f"mobilerepro:mobilenetv4.{name}", (3, size, size))
            for name, size in (("conv_s", 224), ("conv_m", 256), ("conv_l", 384), ("hybrid_m", 256), ("hybrid_l", 384))
        ),
        _spec("mnv4_hybrid_m_tab13", "MobileNetV4", "Qin et al. 2024 (Tab. 13 as printed)",
              "mobilerepro:mobilenetv4.hybrid_m_tab13", (3, 256, 256), variant_of="mnv4_hybrid_m"),
    )
}


def model_names(family: str | None = None, *, variants: bool = False) -> list[str]:
    """The zoo's models (of `family`); other forms of a model (`variant_of`) only when `variants`, so that a
    population (Table 1's, Tab. 16's) counts each model once."""
    return [name for name, spec in _ZOO.items() if (family is None or spec.family == family)
            and (variants or spec.variant_of is None)]


def families() -> list[str]:
    return list(dict.fromkeys(spec.family for spec in _ZOO.values()))


def get_spec(name: str) -> ModelSpec:
    """The zoo entry for `name`; an unknown name raises an error listing the close matches."""
    if name in _ZOO:
        return _ZOO[name]
    normalised = name.lower().replace("-", "_").replace(".", "_")
    if normalised in _ZOO:
        return _ZOO[normalised]
    close = difflib.get_close_matches(normalised, list(_ZOO), n=4, cutoff=0.5)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise MobileReproError(f"unknown model {name!r}{hint} (`python -m mobilerepro models` lists all)")


def seeded(builder: Callable[..., torch.nn.Module], seed: int, **options) -> torch.nn.Module:
    """`builder(**options)` randomly initialised from `seed`, without touching the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(**options)


def build_model(name: str, *, seed: int = 0) -> torch.nn.Module:
    """A freshly built model in eval mode, randomly initialised from `seed` (weights do not affect latency)."""
    return seeded(get_spec(name).builder, seed).eval()


def build_classifier(name: str, *, num_classes: int, seed: int = 0, **options) -> torch.nn.Module:
    """A zoo model for training: `num_classes` outputs, randomly initialised from `seed`, in train mode; `options`
    are the model's own switches (e.g. MobileOne's `num_conv_branches`, `stem_stride`)."""
    spec = get_spec(name)
    try:
        model = seeded(spec.builder, seed, num_classes=num_classes, **options)
    except TypeError as error:
        raise MobileReproError(f"model {spec.name} ({spec.source}) does not take these options: {error}") from None
    return model.train()
