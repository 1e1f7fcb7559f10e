"""Where a model server listens, and the serving flags: one definition for every way to start a server.

The generated predictor's ``__main__`` (``server.build_parser``), ``jupyter-deploy serve`` and
``%deploy serve`` all take ``--host``, ``--workers``, ``--max-batch-size`` and ``--max-latency-ms`` from
``add_serving_arguments`` (and ``add_payload_log_arguments``), and probe ports with ``port_in_use``.
Standard library only: the runtime is copied into every version, and the CLI imports this module on every
start.
"""

from __future__ import annotations

import argparse
import socket
from typing import Any

DEFAULT_HOST = "127.0.0.1"
"""KServe binds 0.0.0.0; a model served from a laptop stays on loopback unless told otherwise."""
DEFAULT_PORT = 8080
"""KServe's own default HTTP port (``--http_port``)."""
PORT_IN_USE_EXIT = 98
"""A predictor's exit code when its port is taken (Linux's EADDRINUSE): the parent that picked it may retry."""
PAYLOAD_LOG_FORMATS = ("jsonl", "parquet")
PAYLOAD_LOG_DEFAULTS: dict[str, Any] = {
    "log_format": "jsonl",
    "log_rotate_mb": 64.0,
    "log_rotate_seconds": 3600.0,
    "log_queue_size": 10_000,
}


def add_serving_arguments(
    parser: argparse.ArgumentParser,
    host: str = DEFAULT_HOST,
    workers: int | None = None,
    max_batch_size: int | None = None,
    max_latency_ms: float | None = None,
) -> None:
    """The serving flags with these defaults; ``None`` leaves the value to the deployment's options."""
    parser.add_argument("--host", default=host, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--workers", type=int, default=workers, help="server processes sharing the port (default 1)")
    parser.add_argument(
        "--max-batch-size",
        "--max_batch_size",
        dest="max_batch_size",
        type=int,
        default=max_batch_size,
        help="batch concurrent requests up to this many rows (default: no batching)",
    )
    parser.add_argument(
        "--max-latency-ms",
        "--max_latency_ms",
        dest="max_latency_ms",
        type=float,
        default=max_latency_ms,
        help="longest a batch keeps collecting requests that are arriving (default 5 ms)",
    )


def add_payload_log_arguments(parser: argparse.ArgumentParser) -> None:
    """The payload-logging flags (``runtime.payload_log`` writes the logs): the predictor's, and
    ``jupyter-deploy serve``'s, which passes them through."""
    defaults = PAYLOAD_LOG_DEFAULTS
    flags: list[tuple[str, dict[str, Any]]] = [
        ("log_payloads", {"metavar": "DIR", "default": None, "help": "log each request's inputs and outputs to DIR"}),
        ("log_format", {"choices": PAYLOAD_LOG_FORMATS, "help": "payload files' format"}),
        ("log_rotate_mb", {"type": float, "help": "start a new payload file past this size (default 64)"}),
        ("log_rotate_seconds", {"type": float, "help": "start a new payload file this often (default 3600)"}),
        ("log_queue_size", {"type": int, "help": "requests waiting to be written before new ones are dropped"}),
    ]
    for name, settings in flags:
        settings = {"default": defaults.get(name), **settings}
        parser.add_argument(f"--{name.replace('_', '-')}", f"--{name}", dest=name, **settings)


def serving_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed serving flags (and ``--port``), as keyword arguments for ``serving.local.start_server``."""
    return {key: getattr(args, key) for key in ("host", "port", "workers", "max_batch_size", "max_latency_ms")}


def port_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (the system's reason), or None when it can."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.strerror or str(error)
    return None


def busy_port_message(host: str, port: int, reason: str, flag: str) -> str:
    """The one line that says a port is taken, naming the flag that picks another."""
    return f"cannot listen on {host}:{port} ({reason}): another server uses it; stop it or pass another {flag}"


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port nothing listens on now (the system picks it)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
