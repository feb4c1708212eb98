"""Models: our implementations (one file per paper family) and the zoo registry."""

from mobilerepro.models.zoo import ModelSpec, build_model, families, get_spec, model_names

__all__ = ["ModelSpec", "build_model", "families", "get_spec", "model_names"]
