"""Starting KServe's own ModelServer for a generated predictor, on 127.0.0.1 unless told otherwise.

KServe's REST server always binds 0.0.0.0; a tool run on a laptop must not expose a model to the network
by default, so the REST server's uvicorn config gets the host we were given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from typing import Any

DEFAULT_HOST = "127.0.0.1"


def build_parser() -> argparse.ArgumentParser:
    from kserve import model_server

    parser = argparse.ArgumentParser(parents=[model_server.parser], conflict_handler="resolve")
    parser.add_argument(
        "--host", default=os.environ.get("JD_HOST", DEFAULT_HOST), help="address to listen on (default 127.0.0.1)"
    )
    return parser


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise SystemExit(f"jupyter-deploy: cannot listen on {host}:{port}: {error.strerror}") from None


def serve_main(model_class: type, argv: list[str] | None = None) -> None:
    """The ``__main__`` of a generated predictor: parse KServe's options, load the model, serve it."""
    args, _ = build_parser().parse_known_args(argv if argv is not None else sys.argv[1:])
    model = model_class(args.model_name if args.model_name != "model" else None)
    check_port_free(args.host, args.http_port)
    model.load()
    start(model, host=args.host, port=args.http_port)


def start(model: Any, host: str = DEFAULT_HOST, port: int = 8080) -> None:
    """Run KServe's ModelServer (REST only) for ``model`` until SIGINT/SIGTERM."""
    from kserve import ModelServer
    from kserve.model_server import FASTAPI_APP_IMPORT_STRING
    from kserve.protocol.rest.server import RESTServer

    server = ModelServer(http_port=port, enable_grpc=False, workers=1)
    server.register_model(model)
    rest = RESTServer(
        FASTAPI_APP_IMPORT_STRING,
        server.dataplane,
        server.model_repository_extension,
        port,
        workers=1,
        grace_period=5,
    )
    rest.config.host = host
    server._rest_server = rest
    server.servers.append(rest.start())
    server.setup_event_loop()
    server.register_signal_handler()
    asyncio.run(server._serve())
