"""Serving a version locally: ``python predictor.py`` as a child process, ready-checked, stopped cleanly.

``start_server`` starts a version of a deployment (its current one by default) on KServe's model server,
waits until ``/v2/models/NAME/ready`` answers, and returns a ``LocalServer`` holding the URLs and a
ready-to-paste example request built from ``example_input``. ``serve_foreground`` is the CLI's loop
(Ctrl-C / SIGTERM stop the server); a ``ServerRegistry`` keeps the servers a kernel (``REGISTRY``) or the
side panel started in the background. A server dies with what started it (``serving.lifetime``).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..exceptions import NotFoundError, ServeError
from ..runtime.listen import DEFAULT_HOST, PORT_IN_USE_EXIT, busy_port_message, free_port, port_in_use
from ..runtime.loaders.refusal import FAILURE_FILE
from ..runtime.verify import FAILED_EXIT as VERIFY_FAILED_EXIT
from .lifetime import die_with_parent

EXAMPLE_INLINE_LIMIT = 2000
FAILURE_NAME = "refused.txt"
PORT_ATTEMPTS = 3


@dataclass
class LocalServer:
    name: str
    version: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    options: dict[str, Any] = field(default_factory=dict)
    log: Path | None = None
    example: str | None = None
    """the v1 request body built from example_input (JSON text), when the predictor has one"""
    workdir: Path | None = None
    version_dir: Path | None = None
    grpc_port: int | None = None
    """where KServe's v2 gRPC protocol is served too (``--grpc-port``), or None"""

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = DEFAULT_HOST
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def v1_url(self) -> str:
        return f"{self.base_url}/v1/models/{self.name}:predict"

    @property
    def v2_url(self) -> str:
        return f"{self.base_url}/v2/models/{self.name}/infer"

    @property
    def grpc_address(self) -> str | None:
        """``host:port`` for a gRPC client (tritonclient's ``InferenceServerClient(url=...)``), when served."""
        if self.grpc_port is None:
            return None
        host = DEFAULT_HOST if self.host in ("0.0.0.0", "::", "") else self.host
        return f"[{host}]:{self.grpc_port}" if ":" in host else f"{host}:{self.grpc_port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def curl(self) -> str:
        """A ready-to-paste request (the example inline, or from a file when it is large)."""
        if self.example is None:
            return f"curl -H 'Content-Type: application/json' -d '{{\"instances\": [...]}}' {self.v1_url}"
        if len(self.example) <= EXAMPLE_INLINE_LIMIT:
            data = shlex.quote(self.example)
        else:
            assert self.workdir is not None
            path = self.workdir / "example-request.json"
            path.write_text(self.example, encoding="utf-8")
            data = shlex.quote(f"@{path}")
        return f"curl -H 'Content-Type: application/json' -d {data} {self.v1_url}"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "url": self.base_url,
            "v1": self.v1_url,
            "v2": self.v2_url,
            "metrics": f"{self.base_url}/metrics",
            "grpc": self.grpc_address,
            "pid": self.process.pid,
            "options": self.options,
            "curl": self.curl(),
            "log": str(self.log) if self.log else None,
        }

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; the exit code. The log and example files go too."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.workdir is not None:
            import shutil

            shutil.rmtree(self.workdir, ignore_errors=True)
        return self.process.returncode


class PortTaken(ServeError):
    """``host:port`` is taken: by another server, or by another process between picking a port and binding it."""


def check_port(host: str, port: int, flag: str = "--port") -> None:
    """Raise ``PortTaken`` when ``host:port`` cannot be listened on."""
    reason = port_in_use(host, port)
    if reason is not None:
        raise PortTaken(busy_port_message(host, port, reason, flag))


def predictor_command(
    version_dir: Path, name: str, host: str, port: int, options: dict[str, Any], grpc_port: int | None = None
) -> list[str]:
    command = [sys.executable, str(version_dir / "predictor.py"), "--host", host, "--http_port", str(port)]
    command += ["--model_name", name]
    for key in ("workers", "max_batch_size", "max_latency_ms"):
        if options.get(key) is not None:
            command += [f"--{key}", str(options[key])]
    if grpc_port is not None:
        command += ["--enable_grpc", "true", "--grpc_port", str(grpc_port)]
    return command


def start_server(
    root: str | Path,
    spec: str,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    workers: int | None = None,
    max_batch_size: int | None = None,
    max_latency_ms: float | None = None,
    output: IO[bytes] | int | None = None,
    timeout: float = 180.0,
    payload_log: dict[str, Any] | None = None,
    grpc_port: int | None = None,
) -> LocalServer:
    """Start ``NAME[@vN]`` and wait until it is ready; ``output`` gets the server's log (default: a file).
    ``payload_log``: ``monitor.payloads.log_options`` (``--log-payloads DIR`` and its format and rotation).
    ``grpc_port``: serve KServe's v2 gRPC protocol there too (0 picks a free port; None: REST only)."""
    from ..project import resolve_options
    from ..versions.store import check_intact, resolve

    info, version_dir = resolve(root, spec)
    # what Python imports (predictor.py, _jd_runtime/) hashed with this tool's own code, every size compared:
    # the artifacts' hashes are the predictor's own check, overlapping its imports, before load() reads them
    check_intact(version_dir, artifacts=False)
    version_dir = version_dir.resolve()
    cli = {"workers": workers, "max_batch_size": max_batch_size, "max_latency_ms": max_latency_ms}
    options = {
        key: value
        for key, value in resolve_options(root, info.name, recorded=info.options, cli=cli).items()
        if key in cli
    }
    if payload_log and payload_log.get("log_payloads"):  # a directory no file can be written into: one line now
        from ..runtime.payload_log import writable_problem

        problem = writable_problem(Path(payload_log["log_payloads"]))
        if problem:
            raise ServeError(problem)
    if grpc_port is not None and (options.get("workers") or 1) > 1:
        raise ServeError("--grpc-port serves from one process: use --workers 1 with it")
    # --port 0 (--grpc-port 0): ours to pick, and to pick again if another process takes it first
    picked = not port or grpc_port == 0
    for attempt in range(1, PORT_ATTEMPTS + 1):
        server = None
        try:
            grpc = grpc_port or (free_port(host) if grpc_port == 0 else None)
            server = _launch(info, version_dir, host, port or free_port(host), options, output, payload_log, grpc)
            wait_ready(server, timeout)
            break
        except BaseException as error:
            if server is not None:
                server.stop()
            # between our probe and the child's bind, another process may take a port we picked: pick again
            if not (isinstance(error, PortTaken) and picked and attempt < PORT_ATTEMPTS):
                raise
    assert server is not None
    workdir = server.workdir
    assert workdir is not None
    example = workdir / "example.json"
    if example.is_file():
        text = example.read_text(encoding="utf-8")
        server.example = None if text.startswith('{"error"') else text
    return server


def _launch(
    info: Any,
    version_dir: Path,
    host: str,
    port: int,
    options: dict[str, Any],
    output: IO[bytes] | int | None,
    payload_log: dict[str, Any] | None,
    grpc_port: int | None = None,
) -> LocalServer:
    """Start the version's predictor on ``host:port`` (and gRPC on ``grpc_port``) in a child process (not yet
    ready)."""
    check_port(host, port)
    if grpc_port is not None:
        check_port(host, grpc_port, "--grpc-port")
    workdir = Path(tempfile.mkdtemp(prefix=f"jd-serve-{info.name}-"))
    log = None
    if output is None:
        log = workdir / "server.log"
        output = log.open("ab")
    env = {
        **os.environ,
        "JD_EXAMPLE_REQUEST": str(workdir / "example.json"),
        FAILURE_FILE: str(workdir / FAILURE_NAME),  # a loader's refusal, reported here in one line
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        predictor_command(version_dir, info.name, host, port, options, grpc_port) + payload_log_arguments(payload_log),
        cwd=version_dir,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a kernel interrupt or the terminal's Ctrl-C reaches us, not the server
        preexec_fn=die_with_parent(),  # SIGTERM when we end, even by SIGKILL
    )
    return LocalServer(
        info.name, info.version, host, port, process, options, log, None, workdir, version_dir, grpc_port
    )


def payload_log_arguments(payload_log: dict[str, Any] | None) -> list[str]:
    from ..monitor.payloads import predictor_arguments

    return predictor_arguments(payload_log)


def wait_ready(server: LocalServer, timeout: float) -> None:
    """Poll the v2 readiness endpoint until it answers 200; ``ServeError`` if the process dies first
    (``PortTaken`` when it died because its port was taken)."""
    url = f"{server.base_url}/v2/models/{server.name}/ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            if server.process.returncode == VERIFY_FAILED_EXIT and server.version_dir is not None:
                from ..versions.store import check_intact

                check_intact(server.version_dir)  # the predictor found a changed file: this says which, in one line
            refusal = _refusal(server)
            if refusal:
                raise ServeError(f"{server.name} {server.version} cannot start: {refusal}")
            failed = PortTaken if server.process.returncode == PORT_IN_USE_EXIT else ServeError
            raise failed(
                f"the {server.name} {server.version} server exited with code {server.process.returncode} "
                f"before it was ready{_log_tail(server)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # our own loopback URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise ServeError(f"the {server.name} server was not ready after {timeout:.0f} s{_log_tail(server)}")


def _refusal(server: LocalServer) -> str | None:
    """The line a loader refused the version's artifact with (``runtime.loaders.refusal``), if one did."""
    path = server.workdir / FAILURE_NAME if server.workdir else None
    if path is None or not path.is_file():
        return None
    return path.read_text(encoding="utf-8", errors="replace").strip().replace("\n", " ") or None


def _log_tail(server: LocalServer, lines: int = 8) -> str:
    if server.log is None or not server.log.is_file():
        return ""
    tail = server.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:]
    return ":\n" + "\n".join(tail) if tail else ""


def banner(server: LocalServer) -> str:
    options = ", ".join(f"{key}={value}" for key, value in sorted(server.options.items())) or "no batching"
    return "\n".join(
        [
            f"Serving {server.name} {server.version} at {server.base_url} ({options})",
            f"  v1: POST {server.v1_url}",
            f"  v2: POST {server.v2_url}",
            f"  metrics: {server.base_url}/metrics",
            *([f"  gRPC (v2, tritonclient): {server.grpc_address}"] if server.grpc_address else []),
            "Try it:",
            f"  {server.curl()}",
        ]
    )


def serve_foreground(server: LocalServer, as_json: bool = False) -> int:
    """Print where ``server`` listens, then wait until it exits or Ctrl-C stops it (SIGTERM too, within
    ``lifetime.stop_on_sigterm``, which the caller installs before the server starts)."""
    try:
        print(json.dumps(server.describe(), indent=2, sort_keys=True) if as_json else banner(server), flush=True)
        if not as_json:
            print("Press Ctrl-C to stop.", flush=True)
        return server.process.wait() or 0
    except KeyboardInterrupt:
        server.stop()
        if not as_json:
            print(f"Stopped {server.name} {server.version}.", flush=True)
        return 0


# -- servers started in the background (by a kernel, or from the side panel) -----------------------------


class ServerRegistry(Mapping[str, LocalServer]):
    """The running servers of one front door, by deployment: starting a deployment again stops its server
    first, and one start or stop at a time per deployment (two starts at once must not leave a server
    running untracked). Every server stops when the process exits, or with ``stop_all``."""

    def __init__(self, where: str) -> None:
        self.where = where  # where the front door started them: 'in this kernel', ...
        self._servers: dict[str, LocalServer] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._stop_at_exit = False

    def __getitem__(self, name: str) -> LocalServer:
        return self._servers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._servers))

    def __len__(self) -> int:
        return len(self._servers)

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def start(self, root: str | Path, spec: str, **kwargs: Any) -> LocalServer:
        """``start_server(root, spec, **kwargs)`` in place of the deployment's running server, if any."""
        name = spec.partition("@")[0]
        with self._lock(name):
            previous = self._servers.pop(name, None)
            if previous is not None:
                previous.stop()
            server = start_server(root, spec, **kwargs)
            self._servers[name] = server
        if not self._stop_at_exit:
            import atexit

            atexit.register(self.stop_all)
            self._stop_at_exit = True
        return server

    def stop(self, name: str) -> LocalServer:
        """Stop the deployment's server; ``NotFoundError`` when none was started here."""
        with self._lock(name):
            server = self._servers.pop(name, None)
            if server is None:
                running = ", ".join(self._servers) or "none"
                raise NotFoundError(f"no server for {name!r} was started {self.where} (running: {running})")
            server.stop()
        return server

    def stop_all(self) -> list[LocalServer]:
        """Stop every server (at once: each may take its grace period); the ones stopped."""
        servers = []
        for name in list(self._servers):
            with self._lock(name):
                server = self._servers.pop(name, None)
            if server is not None:
                servers.append(server)
        threads = [threading.Thread(target=server.stop) for server in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return servers


REGISTRY = ServerRegistry("in this kernel")
"""The servers ``%deploy serve`` started in this process."""
