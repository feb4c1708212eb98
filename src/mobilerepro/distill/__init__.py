"""Distillation with offline soft labels (MobileNetV4 §8): the teachers (`teacher`) and the pipeline that makes a
store and trains from it (`pipeline`); the store's format and its reader are data (`mobilerepro.data.soft_labels`)."""
