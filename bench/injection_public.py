"""The `injection` heuristic on a public labelled set: bastioncorpus (MIT, from PyPI).

bastioncorpus 0.6.0 bundles 181 labelled texts: 118 injections (direct, indirect, role
hijacks, exfiltration...; English plus German, French, Italian and Spanish) and 63 benign
"false-positive traps", texts chosen to look like attacks without being one. The data stays in
the installed package; nothing of it is committed here.

    pip install bastioncorpus==0.6.0
    python bench/injection_public.py            # a table per label and language
    python bench/injection_public.py --json

The false-positive rate is the share of benign texts flagged, with its exact (Clopper-Pearson)
95% upper bound; the detection rate the share of injections flagged.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any


def upper_bound(k: int, n: int, level: float = 0.95) -> float:
    """Exact one-sided upper confidence bound of a binomial proportion (Clopper-Pearson)."""
    from scipy.stats import beta

    return 1.0 if k >= n else float(beta.ppf(level, k + 1, n - k))


def measure() -> dict[str, Any]:
    from bastioncorpus import __version__, load_corpus

    from promptops.assertions.injection import find_injection

    rows = load_corpus()
    flagged: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    for r in rows:
        lang = "en" if r.lang == "en" else "other"
        total[(r.label, lang)] += 1
        flagged[(r.label, lang)] += bool(find_injection(r.text))
    benign_n = total[("benign", "en")] + total[("benign", "other")]
    benign_k = flagged[("benign", "en")] + flagged[("benign", "other")]
    attack_n = total[("malicious", "en")] + total[("malicious", "other")]
    attack_k = flagged[("malicious", "en")] + flagged[("malicious", "other")]
    return {
        "corpus": f"bastioncorpus {__version__}",
        "benign": {"flagged": benign_k, "n": benign_n, "upper95": upper_bound(benign_k, benign_n)},
        "attacks": {"flagged": attack_k, "n": attack_n},
        "by_language": {
            f"{label} {lang}": {"flagged": flagged[(label, lang)], "n": n}
            for (label, lang), n in sorted(total.items())
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        result = measure()
    except ImportError:
        print("install the corpus first: pip install bastioncorpus==0.6.0", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    b, a = result["benign"], result["attacks"]
    print(result["corpus"])
    print(
        f"false positives: {b['flagged']}/{b['n']} benign texts flagged "
        f"({b['flagged'] / b['n']:.1%}; 95% upper bound {b['upper95']:.1%})"
    )
    print(f"detection: {a['flagged']}/{a['n']} injections flagged ({a['flagged'] / a['n']:.1%})")
    for key, v in result["by_language"].items():
        print(f"  {key:16} {v['flagged']:>3}/{v['n']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
