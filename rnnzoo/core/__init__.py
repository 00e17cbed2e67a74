"""The base layer: spec classes (the plugin contract), hook specs, plugin loading, the registry,
``ModelMeta``, shared argument checks, atomic writes and folder locks.

Imports nothing from the layers above it, and never torch (import-linter checks both).
"""
