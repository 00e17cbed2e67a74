"""The base layer: spec classes, hook specs, plugin loading, the registry and atomic writes.

Imports nothing from the layers above it, and never torch.
"""
