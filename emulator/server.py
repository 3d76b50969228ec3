"""Serve one app on HTTP and HTTPS in one process until SIGTERM/SIGINT (then drain and exit 0)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Generator

import uvicorn

from .app import GatewayDispatch, create_app
from .reconciliation.sftp import SftpDrop, start_sftp_server
from .settings import Settings
from .tls import tls_files
from .transport import DroppableHttpProtocol

log = logging.getLogger("emulator")


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: ``serve`` coordinates both listeners."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _config(app: object, settings: Settings, *, port: int, lifespan: str, **tls: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.host,
        port=port,
        lifespan=lifespan,  # type: ignore[arg-type]
        # httptools parses absolute-form request targets (spec §8 item 2); the subclass adds
        # the ability to close a connection without answering (faults, trigger 9902).
        http=DroppableHttpProtocol,
        loop="asyncio",
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        server_header=False,
        timeout_graceful_shutdown=10,
        **tls,  # type: ignore[arg-type]
    )


def _shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket other workers bind too (SO_REUSEPORT): the kernel spreads connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def _serve_on(server: uvicorn.Server, settings: Settings, port: int) -> None:
    if settings.reuse_port:
        await server.serve(sockets=[_shared_socket(settings.host, port)])
    else:
        await server.serve()


async def serve(settings: Settings) -> None:
    app = create_app(settings)
    asgi = GatewayDispatch(app, owner=app)
    http = _Server(_config(asgi, settings, port=settings.port, lifespan="on"))
    tls: _Server | None = None
    if settings.tls_port:
        files = tls_files(settings)
        tls = _Server(
            _config(
                asgi,
                settings,
                port=settings.tls_port,
                lifespan="off",
                ssl_certfile=str(files.cert),
                ssl_keyfile=str(files.key),
            )
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    http_task = asyncio.create_task(_serve_on(http, settings, settings.port))
    while not http.started and not http_task.done():
        await asyncio.sleep(0.01)
    if http_task.done():
        await http_task  # start-up failed (port taken, broken fixtures): surface the error
        raise SystemExit(1)
    tls_task: asyncio.Task[None] | None = None
    if tls is not None:
        tls_task = asyncio.create_task(_serve_on(tls, settings, settings.tls_port))
        while not tls.started and not tls_task.done():
            await asyncio.sleep(0.01)
        if tls_task.done():
            http.should_exit = True
            await http_task
            await tls_task
            raise SystemExit(1)
    sftp: SftpDrop | None = None
    if settings.sftp_port:
        try:
            sftp = await start_sftp_server(
                app.state.reconciliation,
                host=settings.host,
                port=settings.sftp_port,
                data_dir=settings.data_dir,
                database_url=settings.resolved_database_url,
                reuse_port=settings.reuse_port,
            )
        except OSError as exc:
            log.error("cannot serve SFTP on %s:%s: %s", settings.host, settings.sftp_port, exc)
            for server, task in ((tls, tls_task), (http, http_task)):
                if server is not None and task is not None:
                    server.should_exit = True
                    await task
            raise SystemExit(1) from exc
    log.info("alipay-emulator ready: %s %s", settings.http_url(), settings.https_url() or "")

    waiters = [asyncio.create_task(stop.wait()), http_task] + ([tls_task] if tls_task else [])
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    # Drain: stop accepting, let in-flight requests finish, then run the lifespan shutdown.
    if sftp is not None:
        await sftp.stop()
    if tls is not None and tls_task is not None:
        tls.should_exit = True
        await tls_task
    http.should_exit = True
    await http_task
    for w in waiters:
        w.cancel()
