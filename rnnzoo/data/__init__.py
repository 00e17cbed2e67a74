"""Sequence data: the container, built-in datasets, file loaders and splitting."""
