"""``serve``: a version of a deployment on KServe's model server, on this machine, until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from ..runtime.listen import DEFAULT_PORT, add_payload_log_arguments, add_serving_arguments
from .common import add_json, add_root


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="serve a deployment locally on KServe's model server",
        description=(
            "Start deployments/NAME/vN/predictor.py (the current version unless NAME@vN says otherwise) on "
            "KServe's model server with REST v1 (/v1/models/NAME:predict) and v2 (/v2/models/NAME/infer), and "
            "KServe's v2 gRPC protocol with --grpc-port, print its URL and an example request built from "
            "example_input, and serve until Ctrl-C. "
            "Listens on 127.0.0.1 unless --host says otherwise. Batching and workers default to the "
            "deployment's options (magic line, then deploy.yaml)."
        ),
    )
    serve.add_argument("spec", metavar="NAME[@vN]", help="deployment, optionally with a version")
    add_serving_arguments(serve)  # --host, --workers, --max-batch-size, --max-latency-ms: as the predictor's
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    serve.add_argument(
        "--grpc-port",
        type=int,
        default=None,
        metavar="P",
        help="also serve KServe's v2 gRPC protocol on port P, on --host's address (0 picks a free one; default: off)",
    )
    serve.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness (default 180)")
    add_payload_log_arguments(serve)  # --log-payloads DIR and its format, rotation, queue: as the predictor's
    add_root(serve)
    add_json(serve)
    serve.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from ..monitor.payloads import log_options
    from ..runtime.listen import serving_arguments
    from ..serving.lifetime import stop_on_sigterm
    from ..serving.local import serve_foreground, start_server

    payload_log = log_options(
        args.log_payloads, args.log_format, args.log_rotate_mb, args.log_rotate_seconds, args.log_queue_size
    )
    with stop_on_sigterm():  # from before the predictor starts: SIGTERM at any moment stops it too
        server = start_server(
            args.root,
            args.spec,
            **serving_arguments(args),
            output=sys.stderr.fileno(),
            timeout=args.timeout,
            payload_log=payload_log,
            grpc_port=args.grpc_port,
        )
        return serve_foreground(server, as_json=args.json)
