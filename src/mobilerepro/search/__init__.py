"""A latency-aware architecture search over MobileNetV4's UIB space, small enough for a laptop.

- `space`: the search spaces as data (MobileNetV4's UIB space and its IB-only and ConvNext-like-only restrictions,
  the comparison of its Tab. 1), a network as a set of genes, and which genes each stage of a two-stage search
  (§5: widths first, then the depthwise choices) may change.
- `lookup`: a network's latency-predictor features summed from a lookup table of its parts (FBNet's and
  ProxylessNAS's latency lookup table), so that thousands of candidates cost milliseconds each.
- `proxies`: zero-cost accuracy proxies computed at initialisation, and the trivial baselines they must beat.
- `evolution`: OFA's evolutionary search (population, parents, mutation, crossover) under a constraint.
"""
