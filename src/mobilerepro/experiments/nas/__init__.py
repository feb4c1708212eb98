"""The hardware-aware NAS family (MnasNet, MobileNetV3, FBNet, ...): paper data in `paper/nas.yaml`."""
