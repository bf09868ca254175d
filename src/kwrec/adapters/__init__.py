"""Adapters: one module per outside system.

Stores, the Docker Engine, registries, deploy targets and the HTTP probe. They import the core and the
settings, never the pipeline or a shell.
"""
