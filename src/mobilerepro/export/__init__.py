"""Every conversion in one place: ONNX (`onnx`) and Core ML ML programs (`coreml`, converted and validated on any
OS, predicted only on macOS). The latency backends and the op censuses use these, so what is counted is what is
timed."""
