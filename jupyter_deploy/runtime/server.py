"""Starting KServe's own REST app for a generated predictor, on 127.0.0.1 unless told otherwise.

KServe's REST server always binds 0.0.0.0; a tool run on a laptop must not expose a model to the network
by default, so the uvicorn config gets the host we were given. In front of KServe's app sit our guard
(``http.GuardMiddleware``: 413 and metrics) and the JSON fast path for v1 and plain v2 requests
(``fastpath.FastPredict``); behind them KServe's app answers everything else as KServe does. The
event loop is the one KServe's ``--event-loop`` names (uvloop by default, when installed), which KServe's
own ``start()`` never installs.
With ``--enable_grpc true``, KServe's v2 gRPC protocol too, on the same host (``grpc_v2``).
``--workers N`` starts N processes that share one listening socket; each loads the model itself (the
notebook's objects live in the predictor module, which KServe's own multi-process server would not load in
its children).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from . import grpc_v2
from .grpc_v2 import GRPC_FLAG_HELP
from .listen import DEFAULT_HOST, PORT_IN_USE_EXIT, add_serving_arguments, busy_port_message, port_in_use
from .verify import check_before_load

SWITCH_INTERVAL_S = 0.0005


class OneLineParser(argparse.ArgumentParser):
    """argparse's error in one line: the usage of KServe's flags and ours together fills a screen."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def build_parser(defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """KServe's flags (``kserve.model_server.parser``, as KServe's own predictors build theirs) and ours."""
    from kserve import model_server

    from .listen import add_payload_log_arguments as add_arguments

    defaults = defaults or {}
    parser = OneLineParser(parents=[model_server.parser], conflict_handler="resolve")
    add_serving_arguments(
        parser,
        host=os.environ.get("JD_HOST", DEFAULT_HOST),
        workers=defaults.get("workers") or 1,
        max_batch_size=defaults.get("max_batch_size"),
        max_latency_ms=defaults.get("max_latency_ms"),
    )
    parser.add_argument(
        "--max_body_mb", "--max-body-mb", dest="max_body_mb", type=float, default=64.0, help="largest request body"
    )
    # KServe's flag, off by default here (runtime.grpc_v2)
    parser.add_argument("--enable_grpc", default=False, type=boolean, help=GRPC_FLAG_HELP)
    add_arguments(parser)  # --log-payloads DIR and its format and rotation
    return parser


def boolean(text: str) -> bool:
    """KServe's boolean flags' values (true/false, yes/no, 1/0...)."""
    from kserve.utils.utils import strtobool

    return bool(strtobool(text))


def payload_log_settings(args: argparse.Namespace) -> dict[str, Any] | None:
    from .payload_log import settings

    return settings(args)


def check_port_free(host: str, port: int, flag: str = "--http_port") -> None:
    reason = port_in_use(host, port)
    if reason is not None:
        print(f"jupyter-deploy: {busy_port_message(host, port, reason, flag)}", file=sys.stderr)
        raise SystemExit(PORT_IN_USE_EXIT)


def serve_main(model_class: type, argv: list[str] | None = None) -> None:
    """The ``__main__`` of a generated predictor: parse KServe's options and ours (an unknown flag is an error,
    not ignored), load the model, serve it."""
    args = build_parser(getattr(model_class, "serving_options", {})).parse_args(
        argv if argv is not None else sys.argv[1:]
    )
    hand_to_kserve(args)
    name = args.model_name if args.model_name != "model" else None
    options = {
        "max_batch_size": args.max_batch_size,
        "max_latency_ms": args.max_latency_ms,
        "max_body_bytes": int(args.max_body_mb * 1024 * 1024),
        "latency_logging": _latency_logging(argv if argv is not None else sys.argv[1:], args),
        "event_loop": args.event_loop,
        "payload_log": payload_log_settings(args),
        "grpc": grpc_v2.settings(args),
    }
    check_port_free(args.host, args.http_port)
    if options["grpc"]:
        check_port_free(args.host, args.grpc_port, "--grpc_port")
    check_before_load(version_dir(model_class))  # exits with one line when the version's files were changed
    signal.signal(signal.SIGTERM, _exit_quietly)
    try:
        if args.workers > 1:
            serve_workers(model_class, name, args, options)
        else:
            serve_model(model_class, name, options, host=args.host, port=args.http_port)
    except KeyboardInterrupt:
        pass


def hand_to_kserve(args: argparse.Namespace) -> None:
    """KServe reads some of its flags (--configure_logging, --log_config_file, --predictor_*, --enable_docs_url)
    from the namespace it parsed at import, from a command line hidden from it then (``runtime.__init__``): it
    gets ours."""
    from kserve import model_server

    model_server.args = args
    if args.enable_docs_url and model_server.app.docs_url is None:  # KServe decided at import, without the flag
        _add_docs_route(model_server.app)


def _add_docs_route(app: Any) -> None:
    """``/docs`` (Swagger UI), as FastAPI adds it when an app is created with ``docs_url``."""
    from fastapi.openapi.docs import get_swagger_ui_html

    async def docs(request: Any) -> Any:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} - Swagger UI")

    app.docs_url = "/docs"
    app.add_route(app.docs_url, docs, include_in_schema=False)


def version_dir(model_class: type) -> Path:
    """The directory of the ``predictor.py`` that defines ``model_class``."""
    return Path(sys.modules[model_class.__module__].__file__ or "predictor.py").resolve().parent


def serve_model(
    model_class: type, name: str | None, options: dict[str, Any], load_first: bool = False, **where: Any
) -> None:
    """Build the model and serve it at ``where`` (host and port, or shared ``sockets``): listening first, so
    that liveness answers while it loads (``loading``). ``load_first``: a worker that shares its socket with
    others loads before it accepts anything, or it would answer 503 to requests a loaded sibling can serve."""
    model = model_class(name)
    model.configure(**options)
    if load_first:
        load_and_check(model)
        start(model, **where, **_server_options(options))
    else:
        start(model, **where, **_server_options(options), load=lambda: load_and_check(model))


def load_and_check(model: Any) -> None:
    """Load the model, refuse batching it cannot take, write the example request."""
    model.load()
    model.check_batching()
    write_example_request(model)


def write_example_request(model: Any) -> None:
    """For ``jupyter-deploy serve``: the v1 request body built from ``example_input``, at $JD_EXAMPLE_REQUEST."""
    target = os.environ.get("JD_EXAMPLE_REQUEST")
    if not target:
        return
    import json

    from .codec import to_numpy

    try:
        example = to_numpy(model.load_example_input())
        rows = example.tolist() if hasattr(example, "tolist") else example
        body = json.dumps({"instances": rows}, separators=(",", ":"))
    except Exception as error:  # the example is documentation; never fail the server for it
        body = json.dumps({"error": f"example_input not available: {error}"})
    with open(target, "w", encoding="utf-8") as stream:
        stream.write(body)


def _latency_logging(argv: list[str], args: argparse.Namespace) -> bool:
    """KServe logs two lines per request by default, which halves a small model's throughput; we log only
    when ``--enable_latency_logging true`` is given (``/metrics`` has the same latencies)."""
    given = any(arg.startswith("--enable_latency_logging") for arg in argv)
    return bool(args.enable_latency_logging) if given else False


def _exit_quietly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _server_options(options: dict[str, Any]) -> dict[str, Any]:
    keys = ("max_body_bytes", "latency_logging", "event_loop", "grpc")
    return {key: options[key] for key in keys if key in options}


def start(
    model: Any,
    host: str = DEFAULT_HOST,
    port: int = 8080,
    sockets: list[socket.socket] | None = None,
    max_body_bytes: int | None = None,
    latency_logging: bool = False,
    event_loop: str = "auto",
    load: Callable[[], None] | None = None,
    grpc: dict[str, Any] | None = None,
) -> None:
    """Serve ``model`` with KServe's REST app (v1 and v2) until SIGINT/SIGTERM; ``load`` runs once it listens
    (until it is done, only liveness is answered: ``loading.LoadingGate``). ``grpc``: KServe's v2 gRPC too,
    in the same event loop (``grpc_v2``)."""
    from concurrent.futures import ThreadPoolExecutor

    from kserve import ModelServer
    from kserve.model_server import FASTAPI_APP_IMPORT_STRING

    server = ModelServer(http_port=port, enable_grpc=False, workers=1, enable_latency_logging=latency_logging)
    server.register_model(model)
    model.enable_latency_logging = latency_logging
    rest = guarded_rest_server(FASTAPI_APP_IMPORT_STRING, server, model, port, max_body_bytes, event_loop)
    rest.config.host = host
    # the inference thread and the event loop hand the GIL back and forth on every request: a shorter
    # switch interval than the default 5 ms keeps that hand-off from dominating the tail latency
    sys.setswitchinterval(SWITCH_INTERVAL_S)

    async def main() -> None:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 1) + 4))
        )
        rest.create_application()
        listener = await grpc_v2.start(server, grpc) if grpc else None
        try:
            if load is None:
                await rest._server.serve(sockets=sockets)
                return
            from .loading import LoadingGate, load_while_serving

            rest.config.app = gate = LoadingGate(rest.config.app, model.name)
            serving = asyncio.ensure_future(rest._server.serve(sockets=sockets))
            await load_while_serving(rest._server, serving, load, gate)
            await serving
        finally:
            if listener is not None:  # the REST server is done (SIGTERM, or a failed load): gRPC stops with it
                await listener.stop(grace=5)

    # KServe's --event-loop (default "auto": uvloop when installed), which KServe's own start() ignores
    loop_factory = getattr(rest.config, "get_loop_factory", lambda: None)()  # uvicorn >= 0.36
    run_on_loop(main(), loop_factory)


def run_on_loop(main: Any, loop_factory: Any) -> None:
    """``asyncio.run`` on a loop from ``loop_factory`` (None: asyncio's own), on Python 3.10 too."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main)
        return
    loop = loop_factory() if loop_factory else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        loop.close()


def guarded_rest_server(
    app: Any, server: Any, model: Any, port: int, max_body_bytes: int | None, event_loop: str
) -> Any:
    """KServe's ``RESTServer`` whose app (an import string, or a FastAPI app: tests build a fresh one) gets
    KServe's own middleware, routes and error handlers, with our guard and the fast path in front."""
    from kserve.protocol.rest.server import RESTServer

    from .fastpath import FastPredict
    from .http import DEFAULT_MAX_BODY_BYTES, GuardMiddleware

    class GuardedRESTServer(RESTServer):
        def create_application(self) -> None:
            from uvicorn.importer import import_from_string

            application = import_from_string(app) if isinstance(app, str) else app
            # what KServe's own create_application does, on this app (KServe's handlers answer as KServe
            # does: 422 {"detail": [...]} for a v2 body that fails its schema, 501 for NotImplementedError)
            self._add_middlewares(application)
            self._register_endpoints(application)
            self._add_exception_handlers(application)
            # outermost, in front of FastAPI's middleware stack: the guard, then the JSON fast path
            self.config.app = GuardMiddleware(
                FastPredict(application, model),
                max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES,
                models=frozenset({model.name}),
            )

    return GuardedRESTServer(
        app if isinstance(app, str) else "kserve.model_server:app",
        server.dataplane,
        server.model_repository_extension,
        port,
        workers=1,
        grace_period=5,
        event_loop=event_loop,
    )


def serve_workers(model_class: type, name: str | None, args: argparse.Namespace, options: dict[str, Any]) -> None:
    """``args.workers`` processes, each loading the model and serving on one shared listening socket."""
    import multiprocessing

    from uvicorn.config import Config

    config = Config(app="kserve.model_server:app", host=args.host, port=args.http_port)
    listener = config.bind_socket()
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_worker, args=(model_class, name, listener, options, args), daemon=False)
        for _ in range(args.workers)
    ]
    for child in children:
        child.start()
    try:
        for child in children:
            child.join()
    except (KeyboardInterrupt, SystemExit):
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)
        for child in children:
            child.join(10)
    finally:
        listener.close()


def _worker(
    model_class: type, name: str | None, listener: socket.socket, options: dict[str, Any], args: argparse.Namespace
) -> None:
    signal.signal(signal.SIGTERM, _exit_quietly)
    hand_to_kserve(args)
    with contextlib.suppress(KeyboardInterrupt):
        serve_model(model_class, name, options, load_first=True, sockets=[listener])
