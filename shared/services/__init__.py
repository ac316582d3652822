"""The service layer: each function is one use case and owns its transaction."""
