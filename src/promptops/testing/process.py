"""The fake server as a separate process, for benchmarks: :class:`ServerProcess` runs
``python -m promptops.testing.server``, whose :func:`main` parses the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

from .fake_openai import FakeOpenAI
from .outcomes import DEFAULT_MODELS, Fault, Responder
from .responders import echo, fail_first, flaky

# --------------------------------------------------------------------------- #
# Separate-process server (benchmarks)
# --------------------------------------------------------------------------- #


class ServerProcess:
    """Run ``python -m promptops.testing.server`` as a child process.

    Example::

        with ServerProcess(latency=0.02) as proc:
            ...  # use proc.url as api_base

    ``args`` are extra CLI arguments (e.g. ``["--fault", "rate_limit",
    "--fail-first", "1"]``).  On exit the child is terminated (SIGTERM, then
    SIGKILL after 5 s); it is started with ``--exit-with-parent`` so it also
    goes away if this process crashes.
    """

    def __init__(
        self,
        latency: float = 0.0,
        *,
        port: int = 0,
        args: Sequence[str] = (),
        python: str = sys.executable,
        startup_timeout: float = 30.0,
    ) -> None:
        self.command = [
            python,
            "-m",
            "promptops.testing.server",
            "--port",
            str(port),
            "--latency",
            repr(latency),
            "--exit-with-parent",
            *args,
        ]
        self.startup_timeout = startup_timeout
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> ServerProcess:
        """Start the child and wait for its URL line."""
        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
        )
        stdout = self.proc.stdout
        assert stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        line = result[0].strip() if result else ""
        if not line.startswith("http"):
            self.stop()
            raise RuntimeError(f"fake server process failed to start (got {line!r})")
        self.url = line
        return self

    def stop(self) -> None:
        """Terminate the child (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_CLI_FAULTS: Final[dict[str, Callable[[float], Fault]]] = {
    "rate_limit": lambda retry_after: Fault.rate_limit(retry_after=retry_after),
    "server_error": lambda _r: Fault.server_error(),
    "unavailable": lambda retry_after: Fault.unavailable(retry_after=retry_after),
    "malformed": lambda _r: Fault.malformed(),
    "hang": lambda _r: Fault.hang(),
    "drop": lambda _r: Fault.drop(),
    "unauthorized": lambda _r: Fault.http_error(401, "Incorrect API key provided (fake)"),
    "not_found": lambda _r: Fault.http_error(404, "The model does not exist (fake)"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m promptops.testing.server",
        description="Fake OpenAI-compatible server. Prints its base URL (…/v1) on the "
        "first stdout line, then serves until SIGTERM/SIGINT.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per model call")
    parser.add_argument("--jitter", type=float, default=0.0, help="extra uniform latency [0, J]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", action="append", default=None, help="model id(s) for /v1/models")
    parser.add_argument(
        "--fault",
        choices=sorted(_CLI_FAULTS),
        default="server_error",
        help="fault used by --fail-first / --fault-rate",
    )
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After for rate_limit")
    parser.add_argument("--fail-first", type=int, default=0, help="fail first N calls per prompt")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="seeded random fault rate")
    parser.add_argument(
        "--stats",
        action="store_true",
        help="on shutdown print a JSON line with counts/outcomes to stdout",
    )
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when the parent process dies (no orphaned servers after a crash)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (see module docstring)."""
    args = _parser().parse_args(argv)
    fault = _CLI_FAULTS[args.fault](args.retry_after)
    responder: Responder = echo
    if args.fault_rate > 0:
        responder = flaky(args.fault_rate, fault, seed=args.seed, then=responder)
    if args.fail_first > 0:
        responder = fail_first(args.fail_first, fault, then=responder)
    server = FakeOpenAI(
        responder,
        latency=args.latency,
        seed=args.seed,
        jitter=args.jitter,
        host=args.host,
        port=args.port,
        models=args.model or DEFAULT_MODELS,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    parent = os.getppid()
    server.start()
    try:
        print(server.url, flush=True)
        while not stop.wait(0.5):
            if args.exit_with_parent and os.getppid() != parent:
                break
    finally:
        server.stop()
        if args.stats:
            print(
                json.dumps(
                    {"calls": server.calls, "counts": server.counts, "outcomes": server.outcomes}
                ),
                flush=True,
            )
    return 0
