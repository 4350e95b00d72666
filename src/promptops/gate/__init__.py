"""The regression gate: ``promptops diff`` and ``promptops check``.

statistics (decisions, intervals, sizing), compare (paired records and verdicts), sequential
(looks with alpha spending), explain (the verdict in a sentence), diff (what changed between two
versions, and evaluating both), check (the pre-merge gate), trust (what a pull request may change).
"""
