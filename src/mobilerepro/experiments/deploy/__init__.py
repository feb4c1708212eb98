"""On-device latency: Core ML packages for phones, and predicting a device's latency (`paper/deploy.yaml`)."""
