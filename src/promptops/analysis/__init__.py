"""Decisions from production traffic: ``canary analyze`` (canary.py) on the runtime's call
records (:mod:`promptops.runtime.records`), with anytime-valid intervals (sequential.py)."""
