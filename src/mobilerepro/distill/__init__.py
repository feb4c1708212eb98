"""Distillation with offline soft labels (MobileNetV4 §8): the store of the teacher's labels (`store`)."""
