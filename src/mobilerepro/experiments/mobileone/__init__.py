"""MobileOne (Vasu et al., CVPR 2023): one chapter per table (paper data: `paper/mobileone.yaml`)."""
