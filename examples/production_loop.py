"""The production loop end to end, on one machine: publish, several application processes that
follow the registry, a canary decided from their call records, applied and followed.

    python examples/production_loop.py good   # the canary ramps 20% -> 50% -> promoted
    python examples/production_loop.py bad    # its error rate is worse: rolled back

What runs: a loopback OpenAI-compatible server (``promptops.testing``) standing in for the
model provider (in the ``bad`` scenario it fails 30% of the canary version's calls), a static
HTTP server serving the published snapshot, N application processes calling
``Registry.load(URL, refresh=1, record_to=...)`` in a loop, and this controller, which every
two seconds runs ``canary analyze`` on their call records and applies the verdict with
``--publish``. It ends when the canary is promoted or rolled back and every process serves
the final snapshot. Prints one JSON summary line.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from promptops.analysis.canary import analyze, apply, read_records
from promptops.project import Project
from promptops.registry.changes import promote
from promptops.registry.file import read_registry
from promptops.runtime.snapshot import publish
from promptops.testing.server import FakeOpenAI, Fault, Request

PROMPT = """\
name: answer
version: {version}
model:
  id: openai/test-model
  params: {{temperature: 0, max_tokens: 20}}
inputs:
  q: {{type: string}}
messages:
  - role: system
    content: Answer briefly ({marker}).
  - role: user
    content: "{{{{ q }}}}"
"""
POLICY = """\
canary_policy:
  ramp: [20, 50, 100]
  min_calls: 60
  tolerances: {error_rate: 0.1, guard_rate: 0.1, feedback: 0.2, cost: 0.5, output_chars: 0.5,
               latency_p50: null, latency_p95: null}  # loopback timings are noise
"""
APP = """
import json, logging, os, random, sys, time
from promptops import Registry
logging.getLogger("promptops.runtime").setLevel(logging.ERROR)  # failures are in the records
from promptops.errors import ProviderError
url, api_base, log, stop = sys.argv[1:5]
reg = Registry.load(url, refresh=1, record_to=log, api_base=api_base, retries=0, timeout=10)
seen = None
while not os.path.exists(stop):
    if reg.snapshot != seen:
        seen = reg.snapshot
        print(json.dumps({"t": time.time(), "snapshot": seen}), flush=True)
    p = reg.get("answer", "prod", key=random.random())
    try:
        p.complete(q="What is 2 + 2?")
    except ProviderError:
        pass
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def build(root: Path) -> Project:
    d = root / "prompts" / "answer"
    d.mkdir(parents=True)
    for version, marker in (("1.0.0", "v1"), ("2.0.0", "v2")):
        (d / f"{version}.yaml").write_text(PROMPT.format(version=version, marker=marker))
    (root / "registry.yaml").write_text("environments: [prod]\nprompts: {}\n" + POLICY)
    project = Project(root)
    promote(project, "answer", "1.0.0", "prod", force=True, reason="first release")
    promote(project, "answer", "2.0.0", "prod", canary=20, force=True, reason="try 2.0.0")
    return project


def responder(bad: bool, seed: int = 1) -> Any:
    rng = random.Random(seed)

    def respond(req: Request) -> Any:
        system = str(req.body.get("messages", [{}])[0].get("content", ""))
        if bad and "(v2)" in system and rng.random() < 0.3:
            return Fault.server_error(500)
        return "4"

    return respond


def run(scenario: str, processes: int = 3, timeout: float = 240.0) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="promptops-loop-"))
    project = build(work / "project")
    pub = work / "published"
    publish(project, pub)
    http = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(pub)))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{http.server_address[1]}"
    stop = work / "stop"
    logs = [work / f"calls-{i}.jsonl" for i in range(processes)]
    steps: list[dict[str, Any]] = []
    env = {**os.environ, "OPENAI_API_KEY": "sk-loopback", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    with FakeOpenAI(responder(scenario == "bad")) as model:
        apps = [
            subprocess.Popen(
                [sys.executable, "-c", APP, url, model.url, str(log), str(stop)],
                stdout=subprocess.PIPE,
                stderr=(work / f"app-{i}.err").open("w"),
                text=True,
                env=env,
                cwd=work,
            )
            for i, log in enumerate(logs)
        ]
        seen: list[list[dict[str, Any]]] = [[] for _ in apps]
        for app, events in zip(apps, seen, strict=True):
            assert app.stdout is not None
            threading.Thread(
                target=lambda s, e: [e.append(json.loads(x)) for x in s],
                args=(app.stdout, events),
                daemon=True,
            ).start()
        deadline = time.monotonic() + timeout
        final: str | None = None
        try:
            while final is None and time.monotonic() < deadline:
                time.sleep(2)
                existing = [p for p in logs if p.exists()]
                if not existing:
                    continue
                calls, fb = read_records(existing)
                spec = read_registry(project)
                result = analyze(spec, "answer", "prod", calls, fb)
                if result.verdict == "hold":
                    continue
                apply(project, result)
                published = publish(project, pub)
                steps.append(
                    {
                        "verdict": result.verdict,
                        "weight": result.weight,
                        "next": result.next_weight,
                        "stable_calls": result.stable.calls,
                        "canary_calls": result.canary.calls,
                        "reason": result.reason,
                        "published_at": time.time(),
                    }
                )
                dep = read_registry(project).prompts["answer"]["prod"]
                if dep.canary is None:
                    final = published.manifest
            followed = None
            if final is not None:
                while time.monotonic() < deadline:
                    done = [
                        next((e["t"] for e in ev if e["snapshot"] == final), None) for ev in seen
                    ]
                    if all(t is not None for t in done):
                        followed = max(done) - steps[-1]["published_at"]  # type: ignore[operator,type-var]
                        break
                    time.sleep(0.1)
        finally:
            stop.touch()
            for app in apps:
                try:
                    app.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    app.kill()
            http.shutdown()
    dep = read_registry(project).prompts["answer"]["prod"]
    return {
        "scenario": scenario,
        "steps": steps,
        "serving": dep.version,
        "canary": dep.canary.version if dep.canary else None,
        "followed_s": None if followed is None else round(followed, 2),
        "processes": processes,
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "good")))
