"""Serve one app on HTTP and HTTPS in one process until SIGTERM/SIGINT (then drain and exit 0)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Generator
from concurrent.futures import Future
from typing import TYPE_CHECKING

import uvicorn

from .app import GatewayDispatch, create_app
from .notifications.worker import DeliveryProcess, can_run
from .settings import Settings
from .startup import Prepared, StartupError, prepare
from .transport import DroppableHttpProtocol
from .workers import settings_environment

if TYPE_CHECKING:  # imported only when SFTP is on: asyncssh costs a start-up ~0.3 s
    from .reconciliation.sftp import SftpDrop

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
        # uvicorn's own start/stop lines only at debug: the emulator logs one ready line.
        log_level="warning" if settings.log_level == "info" else settings.log_level,
        # The CLI configured logging (text or JSON, emulator.logs): uvicorn's loggers propagate.
        log_config=None,
        access_log=settings.log_level == "debug",
        server_header=False,
        timeout_graceful_shutdown=10,
        # Keep idle connections well past what client pools keep them (uvicorn's 5 s closes a
        # connection a client is about to reuse: a reset on a busy machine).
        timeout_keep_alive=75,
        **tls,  # type: ignore[arg-type]
    )


def ready_line(settings: Settings, *, sftp_port: int | None) -> str:
    """Every listener (bound address and the URL the sandbox advertises), data dir, database."""
    from sqlalchemy.engine import make_url

    parts = [f"HTTP {settings.host}:{settings.port} ({settings.http_url()})"]
    if settings.tls_port:
        parts.append(f"HTTPS {settings.host}:{settings.tls_port} ({settings.https_url()})")
    else:
        parts.append("HTTPS off")
    parts.append(f"SFTP {settings.host}:{sftp_port}" if sftp_port else "SFTP off")
    database = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    parts.append(f"data dir {settings.data_dir.resolve()}")
    parts.append(f"database {database}")
    return "alipay-emulator ready: " + ", ".join(parts)


async def serve(settings: Settings, *, preparing: Future[Prepared] | None = None) -> None:
    """Serve until SIGTERM/SIGINT; a broken configuration raises ``StartupError`` (one line).

    ``preparing``: ``prepare(settings)`` already running (``startup.prepare_in_background``).
    """
    if preparing is None:
        prepared = await asyncio.to_thread(prepare, settings)
    else:
        prepared = await asyncio.wrap_future(preparing)
    app = create_app(settings, prepared=prepared)
    asgi = GatewayDispatch(app, owner=app)
    http = _Server(_config(asgi, settings, port=settings.port, lifespan="on"))
    tls: _Server | None = None
    if settings.tls_port:
        from .tls import tls_files

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

    http_task = asyncio.create_task(http.serve(sockets=[prepared.sockets["http"]]))
    while not http.started and not http_task.done():
        await asyncio.sleep(0.01)
    if http_task.done():
        await http_task  # start-up failed (port taken, broken fixtures): surface the error
        raise SystemExit(1)
    tls_task: asyncio.Task[None] | None = None
    if tls is not None:
        tls_task = asyncio.create_task(tls.serve(sockets=[prepared.sockets["https"]]))
        while not tls.started and not tls_task.done():
            await asyncio.sleep(0.01)
        if tls_task.done():
            http.should_exit = True
            await http_task
            await tls_task
            raise SystemExit(1)
    sftp: SftpDrop | None = None
    if settings.sftp_port:
        from .reconciliation.sftp import start_sftp_server

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
            for server, task in ((tls, tls_task), (http, http_task)):
                if server is not None and task is not None:
                    server.should_exit = True
                    await task
            raise StartupError(
                "ALIPAY_EMULATOR_SFTP_PORT",
                f"cannot listen on {settings.host}:{settings.sftp_port}: {exc.strerror or exc}",
            ) from exc
    delivery: DeliveryProcess | None = None
    if can_run(settings):  # issue #15: notifications off the gateway's critical path
        delivery = DeliveryProcess(settings_environment(settings))
        await asyncio.to_thread(delivery.start)
        app.state.runtime.delivery_elsewhere = delivery.alive
    # Everything built so far (modules, fixtures, caches) lives as long as the process: out of
    # the collector's sight, a full collection no longer walks it and stalls the event loop.
    # The CLI turned the collector off for the start-up (cli._serve): back on from here. No
    # gc.collect() first: it would walk those ~200k objects with the event loop blocked (~0.25 s
    # here, just as the first requests arrive) to free the few hundred start-up left behind.
    gc.freeze()
    gc.enable()
    log.info("%s", ready_line(settings, sftp_port=sftp.port if sftp else None))

    waiters = [asyncio.create_task(stop.wait()), http_task] + ([tls_task] if tls_task else [])
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    # Drain: stop accepting, let in-flight requests finish, then run the lifespan shutdown.
    if delivery is not None:
        await asyncio.to_thread(delivery.stop)
    if sftp is not None:
        await sftp.stop()
    if tls is not None and tls_task is not None:
        tls.should_exit = True
        await tls_task
    http.should_exit = True
    await http_task
    for w in waiters:
        w.cancel()
