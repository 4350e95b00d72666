"""registry.yaml: what each environment serves, and how it changes.

file (the one parse path, and the writer), changes (promote, canary, rollback, status, the
journal), evidence (the run a promotion rests on), history (who changed what, from git and the
journal), runtime (``Registry.load(...).get(...)``, what applications call).
"""
