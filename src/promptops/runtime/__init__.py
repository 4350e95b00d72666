"""Serving prompts in production: published snapshots of the registry (snapshot.py), the
background refresh that applications follow (source.py), and guards on a call's input and
output (guards.py). The ``Registry`` applications use is :mod:`promptops.registry.runtime`."""
