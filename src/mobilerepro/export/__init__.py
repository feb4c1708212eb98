"""Export: Core ML packages (converted and validated on any OS; predicted only on macOS)."""
