"""Record promptfoo's own per-case verdicts on a probe config, for the differential test
(tests/test_import_promptfoo.py::test_imported_suite_judges_as_promptfoo_does).

    npm install --prefix /tmp/pf promptfoo@0.121.20     # outside the repository
    python scripts/promptfoo_differential.py /tmp/pf tests/fixtures/promptfoo/semantics

Runs ``promptfoo eval`` on DIR/promptfooconfig.yaml in a scratch copy (no cache, no sharing,
no telemetry, its state in a temporary home) and writes DIR/promptfoo-results.json:
``{"promptfoo": version, "results": [{"description", "pass", "reason"}, ...]}`` in test order
(with several prompts, each row also has ``prompt``, its index, and ``output``, the echo
provider's answer: the prompt as promptfoo rendered it; with ``derivedMetrics``, ``metrics``
holds each prompt's named metrics; with several providers, each row has ``provider``, its
label or id, and ``requests`` lists the model and sampling parameters of each request the
loopback server received). The probe
configs use the echo provider, or the loopback fake server answering with DIR/responder.py's
``respond`` (the test uses the same), so nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# the request fields recorded for a probe with several providers: what a provider's config sets
SAMPLING = (
    *("temperature", "max_tokens", "max_completion_tokens", "top_p", "seed", "stop"),
    *("frequency_penalty", "presence_penalty", "response_format"),
)


def sent(body: dict[str, Any]) -> dict[str, Any]:
    """The model and sampling parameters of one request body."""
    return {"model": body.get("model"), **{k: body[k] for k in SAMPLING if k in body}}


@contextlib.contextmanager
def _model(probe: Path, requests: list[dict[str, Any]]) -> Iterator[dict[str, str]]:
    """The environment pointing promptfoo's OpenAI provider at the loopback fake server
    answering with DIR/responder.py's ``respond``, when the probe has one; the requests it
    received are appended to ``requests`` on exit."""
    module = probe / "responder.py"
    if not module.exists():
        yield {}
        return
    from promptops.testing.server import FakeOpenAI

    spec = importlib.util.spec_from_file_location("responder", module)
    assert spec is not None and spec.loader is not None
    responder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(responder)
    with FakeOpenAI(responder.respond) as server:
        yield {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": server.url,
            "OPENAI_API_BASE_URL": server.url,
        }
        requests.extend(sent(r.body) for r in server.requests)


def record(prefix: Path, probe: Path) -> dict[str, object]:
    binary = prefix / "node_modules" / ".bin" / "promptfoo"
    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "probe"
        shutil.copytree(probe, work, ignore=shutil.ignore_patterns("promptfoo-results.json"))
        env = {
            **os.environ,
            "HOME": tmp,
            "PROMPTFOO_CONFIG_DIR": str(Path(tmp) / ".promptfoo"),
            "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "PROMPTFOO_DISABLE_UPDATE": "1",
            "PROMPTFOO_DISABLE_SHARING": "1",
        }
        out = Path(tmp) / "out.json"
        cmd = [str(binary), "eval", "-c", "promptfooconfig.yaml", "-o", str(out), "--no-cache"]
        # promptfoo exits non-zero when a case fails: the output file is what counts
        requests: list[dict[str, Any]] = []
        with _model(probe, requests) as model_env:
            env.update(model_env)
            subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, check=False)
        data = json.loads(out.read_text())
    rows = data["results"]["results"]
    rows.sort(key=lambda r: (r.get("testIdx", 0), r.get("promptIdx", 0)))
    several = len({r.get("promptIdx", 0) for r in rows}) > 1
    providers = len({json.dumps(r.get("provider"), sort_keys=True) for r in rows}) > 1
    results = [
        {
            "description": r["testCase"].get("description"),
            "pass": bool(r["success"]),
            "reason": ((r.get("gradingResult") or {}).get("reason") or r.get("error") or "")[:200],
            # several prompts: which one, and what the echo provider answered (the prompt as
            # promptfoo rendered it)
            **(
                {"prompt": r.get("promptIdx", 0), "output": (r.get("response") or {}).get("output")}
                if several
                else {}
            ),
            **(
                {"provider": r["provider"].get("label") or r["provider"].get("id")}
                if providers
                else {}
            ),
        }
        for r in rows
    ]
    out: dict[str, object] = {"promptfoo": version, "results": results}
    if providers:
        out["requests"] = sorted(requests, key=lambda x: json.dumps(x, sort_keys=True))
    if "derivedMetrics" in (probe / "promptfooconfig.yaml").read_text():
        # per prompt, the named metrics after the derived ones (NaN and Infinity are null)
        out["metrics"] = [
            {"prompt": p.get("raw"), "namedScores": p["metrics"]["namedScores"]}
            for p in data["results"]["prompts"]
        ]
    return out


def main() -> None:
    prefix, probe = Path(sys.argv[1]), Path(sys.argv[2])
    recorded = record(prefix, probe)
    target = probe / "promptfoo-results.json"
    target.write_text(json.dumps(recorded, indent=1) + "\n", encoding="utf-8")
    print(f"{target}: {len(recorded['results'])} case(s), promptfoo {recorded['promptfoo']}")


if __name__ == "__main__":
    main()
