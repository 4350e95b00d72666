"""Misconfiguration fails in seconds: a 2,000-case eval with a broken setup, whole process.

Scenarios (loopback server, ``openai/gpt-4o-mini-2024-07-18``, concurrency 16, default retries):
- ``missing-key``: ``OPENAI_API_KEY`` unset (litellm refuses every call client-side);
- ``401``: a key is set but the server answers 401 to every request;
- ``404``: the server answers 404 (unknown model) to every request.

Each must end (exit 1, one clear error) within 10 s of start-up with fewer than 20 requests.
Reported: wall time of the ``promptops eval`` process (including Python start-up and the
litellm import), requests the server received, exit code, and the error's first line; and, for
scale, the wall time of a bare ``python -c "import litellm"`` measured just before each
scenario (most of the time is that import, which any call pays).

    python bench/misconfig.py [--cases 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eval_throughput import MODEL, make_project  # the same project; bench/ is on sys.path

BIN = Path(sys.executable).parent
SRC = str(Path(__file__).resolve().parents[1] / "src")


def env(key: bool) -> dict[str, str]:
    out = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, out.get("PYTHONPATH", "")) if p)
    out.pop("OPENAI_BASE_URL", None)
    if key:
        out["OPENAI_API_KEY"] = "sk-bench-0123456789"
    else:
        out.pop("OPENAI_API_KEY", None)
    return out


def start_server(fault: str | None) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "promptops.testing.server", "--port", "0", "--stats"]
    if fault:
        args += ["--fault", fault, "--fault-rate", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env(True))
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stop_server(proc: subprocess.Popen[str]) -> int:
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    stats = json.loads(out.strip().splitlines()[-1])
    return int(stats["counts"].get("chat", 0))


def scenario(name: str, fault: str | None, key: bool, cases: int, tmp: Path) -> dict[str, object]:
    server, url = start_server(fault)
    root = tmp / name
    make_project(root, url, cases)
    cmd = [
        str(BIN / "promptops"),
        "eval",
        "bench@1.0",
        "-q",
        "--concurrency",
        "16",
        "--no-estimate",
    ]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import litellm"], env=env(key), check=True)
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=root, env=env(key), capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    requests = stop_server(server)
    first = next((ln for ln in done.stderr.splitlines() if ln.strip()), "")
    return {
        "import_s": import_s,
        "scenario": name,
        "wall_s": wall,
        "requests": requests,
        "exit": done.returncode,
        "error": first[:160],
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cases", type=int, default=2000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="promptops-misconfig-"))
    try:
        rows = [
            scenario("missing-key", None, False, args.cases, tmp),
            scenario("401", "unauthorized", True, args.cases, tmp),
            scenario("404", "not_found", True, args.cases, tmp),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"cases={args.cases} concurrency=16 model={MODEL} (target: < 10 s, < 20 requests)")
    for r in rows:
        ok = r["exit"] == 1 and float(r["wall_s"]) < 10 and int(r["requests"]) < 20  # type: ignore[arg-type]
        print(
            f"  {r['scenario']:<12} {float(r['wall_s']):6.2f} s  requests {r['requests']:>4}  "  # type: ignore[arg-type]
            f"exit {r['exit']}  {'OK ' if ok else 'MISS'}  (import litellm alone: "
            f"{float(r['import_s']):.2f} s)\n      {r['error']}"  # type: ignore[arg-type]
        )


if __name__ == "__main__":
    main()
