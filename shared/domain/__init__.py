"""Domain models: what assetflow knows, independent of any dialect or transport."""
