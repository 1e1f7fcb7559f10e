"""KServe's v2 gRPC protocol (``--enable_grpc true``), on the address the REST server listens on.

KServe's own ``GRPCServer`` binds ``[::]`` (every interface) with no option to change it; this one listens
where ``--host`` says (127.0.0.1 by default), on ``--grpc_port`` (KServe's 8081), in the REST server's event
loop. A request reaches the same model as REST does (KServe's servicer, then ``NotebookModel.predict``: the
same decoding, dispatch, batching and payload log); tritonclient's gRPC client speaks it. Off unless asked
(KServe's default is on): every local server would otherwise also take a second, fixed port. One process
serves it: ``--workers N`` shares the HTTP socket, and gRPC has no such sharing that would not also let an
unrelated server share the port silently (SO_REUSEPORT is turned off here for that reason).
"""

from __future__ import annotations

import argparse
from typing import Any

GRPC_FLAG_HELP = "serve KServe's v2 gRPC protocol on --grpc_port, on --host's address (default false)"


def settings(args: argparse.Namespace) -> dict[str, Any] | None:
    """What ``start`` needs, or None when gRPC is off; ``SystemExit`` (one line) for what cannot be served."""
    if not args.enable_grpc:
        return None
    if args.workers > 1:
        raise SystemExit("jupyter-deploy: --enable_grpc serves from one process: use --workers 1 with it")
    if args.grpc_port == args.http_port:
        raise SystemExit(f"jupyter-deploy: --grpc_port and --http_port are both {args.http_port}: give gRPC its own")
    return {
        "host": args.host,
        "port": args.grpc_port,
        "max_threads": args.max_threads,
        "options": [
            ("grpc.max_send_message_length", args.grpc_max_send_message_length),
            ("grpc.max_receive_message_length", args.grpc_max_receive_message_length),
            ("grpc.so_reuseport", 0),  # a port another server holds is an error, not shared
        ],
    }


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def start(server: Any, grpc: dict[str, Any]) -> Any:
    """KServe's gRPC servicer for ``server`` (a ``kserve.ModelServer``), listening and started; ``stop(grace)``
    it when the REST server is done. What ``kserve.protocol.grpc.server.GRPCServer.start`` builds, bound to
    ``grpc["host"]`` instead of every interface."""
    from concurrent import futures

    from grpc import aio
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
    from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
    from kserve.protocol.grpc.servicer import InferenceServicer

    listener = aio.server(
        futures.ThreadPoolExecutor(max_workers=grpc["max_threads"]),
        interceptors=(LoggingInterceptor(), ExceptionToStatusInterceptor()),
        options=grpc["options"],
    )
    servicer = InferenceServicer(server.dataplane, server.model_repository_extension)
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, listener)
    where = address(grpc["host"], grpc["port"])
    try:
        listener.add_insecure_port(where)
    except RuntimeError as error:
        raise SystemExit(f"jupyter-deploy: cannot serve gRPC on {where} ({error}): pass another --grpc_port") from None
    await listener.start()
    return listener
