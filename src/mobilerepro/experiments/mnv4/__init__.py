"""MobileNetV4 (Qin et al., ECCV 2024): one chapter per table (paper data: `paper/mobilenetv4.yaml`)."""
