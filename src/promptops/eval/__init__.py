"""``promptops eval``: the eval loop and the run record it writes.

runner (options, the loop, resume), conversation (multi-turn cases), supervise (the first
failure stops everything), records (the typed run record), store (run directories on disk),
summary (groups and the pass-rate bar), merge (``promptops runs merge``).
"""
