"""``promptops calibrate``: how well each judge agrees with people, from ``labels/NAME.jsonl``.

Every label carries the model-graded verdicts on the output it labels (``judged``); here they
are paired with the human verdict (pass, or a score of 4-5) per (judge model, assertion type,
rubric hash): agreement, Cohen's kappa with a 95% interval (the large-sample variance of
Fleiss, Cohen and Everitt, 1969) and the confusion matrix.

A prompt may require a calibrated judge (``judge: {min_kappa: 0.6, min_labels: 30}``):
:func:`calibration_problems` says, for each of its model-graded assertions, why its judge
is not calibrated (too few labels, a kappa below the bar, or a rubric changed since the labels
were given) and what to label; ``eval``, ``check`` and ``promote`` refuse a verdict then.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from .labels import Label

Z95 = NormalDist().inv_cdf(0.975)


@dataclass(frozen=True)
class Agreement:
    """Two raters' binary verdicts: ``matrix[judge][human]`` with index 0 = pass, 1 = fail."""

    n: int
    matrix: tuple[tuple[int, int], tuple[int, int]]
    agreement: float | None
    kappa: float | None  # None: undefined (no labels, or every verdict in one class)
    low: float | None
    high: float | None

    def to_json(self) -> dict[str, Any]:
        (pp, pf), (fp, ff) = self.matrix
        return {
            "n": self.n,
            "agreement": self.agreement,
            "kappa": self.kappa,
            "kappa_ci95": [self.low, self.high] if self.kappa is not None else None,
            "confusion": {
                "judge_pass_human_pass": pp,
                "judge_pass_human_fail": pf,
                "judge_fail_human_pass": fp,
                "judge_fail_human_fail": ff,
            },
        }


def cohen_kappa(pairs: Iterable[tuple[bool, bool]]) -> Agreement:
    """Kappa of (judge, human) pass verdicts, with its 95% Wald interval (FCE 1969 variance),
    clipped to [-1, 1]."""
    m = [[0, 0], [0, 0]]
    for judge, human in pairs:
        m[0 if judge else 1][0 if human else 1] += 1
    n = sum(map(sum, m))
    matrix = ((m[0][0], m[0][1]), (m[1][0], m[1][1]))
    if n == 0:
        return Agreement(0, matrix, None, None, None, None)
    p = [[m[i][j] / n for j in range(2)] for i in range(2)]
    row = [p[i][0] + p[i][1] for i in range(2)]  # judge marginals
    col = [p[0][j] + p[1][j] for j in range(2)]  # human marginals
    po = p[0][0] + p[1][1]
    pe = row[0] * col[0] + row[1] * col[1]
    if pe >= 1 - 1e-12:
        return Agreement(n, matrix, po, None, None, None)
    kappa = (po - pe) / (1 - pe)
    a = sum(p[i][i] * (1 - (row[i] + col[i]) * (1 - kappa)) ** 2 for i in range(2))
    b = (1 - kappa) ** 2 * sum(
        p[i][j] * (col[i] + row[j]) ** 2 for i in range(2) for j in range(2) if i != j
    )
    c = (kappa - pe * (1 - kappa)) ** 2
    var = max(a + b - c, 0.0) / (n * (1 - pe) ** 2)
    half = Z95 * math.sqrt(var)
    return Agreement(n, matrix, po, kappa, max(-1.0, kappa - half), min(1.0, kappa + half))


@dataclass
class JudgeCalibration:
    """One judge model with one rubric, against the human labels of the outputs it judged."""

    judge: str | None
    type: str
    rubric: str
    agreement: Agreement
    versions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "type": self.type,
            "rubric": self.rubric,
            "versions": self.versions,
            **self.agreement.to_json(),
        }


def latest(labels: Iterable[Label]) -> list[Label]:
    """The last label of each (case, model, output, run): a relabel replaces, never adds."""
    out: dict[tuple[str, str | None, str | None, str | None], Label] = {}
    for label in labels:
        out[label.key()] = label
    return list(out.values())


def calibrate(labels: Iterable[Label]) -> list[JudgeCalibration]:
    """Agreement of every (judge, type, rubric) found in the labels' judged outcomes; each
    labelled output counts once per judge (the same output seen in two runs is one pair)."""
    pairs: dict[tuple[str | None, str, str], dict[tuple[str, str | None], tuple[bool, bool]]] = {}
    versions: dict[tuple[str | None, str, str], set[str]] = {}
    for label in latest(labels):
        for j in label.judged:
            key = (j.judge, j.type, j.rubric)
            output = (label.case_id, label.output_hash)
            pairs.setdefault(key, {})[output] = (j.passed, label.human_pass)
            if label.version:
                versions.setdefault(key, set()).add(label.version)
    return [
        JudgeCalibration(
            judge,
            kind,
            rubric,
            cohen_kappa(got.values()),
            sorted(versions.get((judge, kind, rubric), ())),
        )
        for (judge, kind, rubric), got in sorted(
            pairs.items(), key=lambda kv: (str(kv[0][0]), kv[0][1], kv[0][2])
        )
    ]


def require_calibrated(project: Any, pv: Any, action: str) -> None:
    """Raise CalibrationError when ``pv`` requires calibrated judges and they are not (labels
    from the working tree's labels/NAME.jsonl)."""
    from ..errors import CalibrationError
    from .labels import labels_path, read_labels

    if pv.spec.judge is None:
        return
    path = labels_path(project.root, pv.name)
    problems = calibration_problems(
        pv, [label for _, label in read_labels(path)], project.rel(path)
    )
    if problems:
        raise CalibrationError(
            f"{action} refused: {pv.ref} requires calibrated judges "
            f"(judge: min_kappa {pv.spec.judge.min_kappa:g}, min_labels {pv.spec.judge.min_labels})"
            + "".join(f"\n  {p}" for p in problems)
        )


def calibration_problems(
    pv: Any, labels: Iterable[Label], labels_file: str, need: Any = None
) -> list[str]:
    """Why ``pv``'s judges may not decide a verdict under its ``judge:`` requirement (empty:
    they may, or it has no requirement). Each names the judge and what to label."""
    from .review import is_model_graded, rubric_hash

    need = need or pv.spec.judge
    if need is None:
        return []
    results = calibrate(labels)
    out = []
    for spec in pv.spec.assert_:
        if not is_model_graded(spec.type):
            continue
        rubric = rubric_hash(spec)
        who = f"{spec.type} judged by {spec.judge or 'the default judge'}"
        todo = (
            f"label outputs of {pv.ref} (promptops eval {pv.ref}, then promptops review latest) "
            f"and commit {labels_file}"
        )
        found = next(
            (c for c in results if (c.judge, c.type, c.rubric) == (spec.judge, spec.type, rubric)),
            None,
        )
        if found is None:
            older = [c for c in results if (c.judge, c.type) == (spec.judge, spec.type)]
            if older:
                out.append(
                    f"{who}: its rubric changed since it was calibrated ({rubric}; the labels "
                    f"are for {', '.join(c.rubric for c in older)}); {todo}"
                )
            else:
                out.append(f"{who}: not calibrated (0 of {need.min_labels} labels); {todo}")
            continue
        a = found.agreement
        if a.n < need.min_labels:
            out.append(
                f"{who}: {a.n} of {need.min_labels} labels; label {need.min_labels - a.n} more: {todo}"
            )
        elif a.kappa is None:
            out.append(
                f"{who}: kappa is undefined ({a.n} labels, all in one class); label outputs "
                f"that the judge or a person fails too: {todo}"
            )
        elif a.kappa < need.min_kappa:
            out.append(
                f"{who}: kappa {a.kappa:.2f} (95% CI {a.low:.2f} to {a.high:.2f}) is below "
                f"min_kappa {need.min_kappa:g} over {a.n} labels; improve the rubric (a new "
                f"version) and label its outputs"
            )
    return out
