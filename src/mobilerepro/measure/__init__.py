"""Measurement: complexity (params, MACs), latency backends, statistics, environment stamp."""
