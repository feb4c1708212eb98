"""Checks of the project's own pipeline at reduced scale (paper data: `paper/evaluation.yaml`)."""
