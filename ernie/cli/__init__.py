"""Command-line drivers and tools: the top layer, which no library module imports."""
