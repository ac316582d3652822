"""The assetflow benchmark suite: the service measured against the raw speed of its own stack.

Run it with `uv run python -m bench` (see bench/README.md).
"""
