"""Start-up checks: each failure becomes one line naming the setting as its environment variable.

``prepare`` does everything that can fail before a request is served (data directory, fixtures,
database, FX quotes, TLS files, listening sockets), so ``serve`` reports a broken configuration
as ``alipay-emulator: ALIPAY_EMULATOR_X: what is wrong`` and exit code 2 instead of a framework
traceback. ``unknown_variables`` finds ``ALIPAY_EMULATOR_*`` variables no setting reads.
"""

from __future__ import annotations

import difflib
import socket
import tempfile
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from .settings import Settings

if TYPE_CHECKING:
    from .reconciliation.service import ReconciliationService
    from .runtime import Runtime

PREFIX = "ALIPAY_EMULATOR_"
# Read by the CLI, the pytest plugin and the test suite rather than by ``serve``.
OTHER_VARIABLES = frozenset(
    {"URL", "PLUGIN_TLS_PORT", "SDK_VENV", "TEST_POSTGRES_URL"},
)


class StartupError(Exception):
    """A start-up failure; ``str()`` is the one line to print."""

    def __init__(self, variable: str | None, problem: str) -> None:
        self.variable = variable
        self.problem = " ".join(problem.split())  # one line, whatever the cause printed
        super().__init__(f"{variable}: {self.problem}" if variable else self.problem)


def env_name(setting: str) -> str:
    return PREFIX + setting.upper()


def settings_error(exc: ValidationError) -> StartupError:
    """A pydantic validation error as one line per setting, by environment variable."""
    parts = []
    for error in exc.errors():
        name = env_name(str(error["loc"][0])) if error["loc"] else "settings"
        parts.append(f"{name}: {error['msg']} (got {error.get('input')!r})")
    return StartupError(None, "; ".join(parts))


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning per ``ALIPAY_EMULATOR_*`` variable that no setting reads (a typo, usually)."""
    known = {name.upper() for name in Settings.model_fields} | OTHER_VARIABLES
    warnings = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or name[len(PREFIX) :] in known:
            continue
        close = difflib.get_close_matches(name[len(PREFIX) :], sorted(known), n=1)
        hint = f" (did you mean {PREFIX}{close[0]}?)" if close else ""
        warnings.append(f"{name} matches no setting and is ignored{hint}")
    return warnings


@dataclass
class Prepared:
    runtime: Runtime
    reconciliation: ReconciliationService
    sockets: dict[str, socket.socket] = field(default_factory=dict)

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        self.runtime.close()


def check_data_dir(path: Path) -> None:
    variable = env_name("data_dir")
    if path.exists() and not path.is_dir():
        raise StartupError(variable, f"{path} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(variable, f"cannot create {path}: {exc.strerror or exc}") from exc
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise StartupError(variable, f"{path} is not writable: {exc.strerror or exc}") from exc


def listen(host: str, port: int, setting: str, *, reuse_port: bool = False) -> socket.socket:
    """A bound socket for ``host:port``, or a StartupError naming ``setting``'s variable.

    ``reuse_port``: the workers of ``serve --workers N`` all bind the same port (SO_REUSEPORT)
    and the kernel spreads the connections over them (issue #13).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Protocol TCP, not 0: asyncio sets TCP_NODELAY only on such sockets (and on the connections
    # they accept); without it a response written in two parts (the control API's) waited for the
    # client's delayed ACK, about 40 ms per call on a kept-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        hint = " (another process holds it)" if exc.errno == 98 else ""
        if exc.errno == 13 and port < 1024:
            hint = " (ports below 1024 need root or net.ipv4.ip_unprivileged_port_start)"
        raise StartupError(env_name(setting), f"cannot listen on {host}:{port}: {why}{hint}") from exc
    sock.set_inheritable(True)
    return sock


def _database_error(exc: Exception, settings: Settings) -> StartupError:
    from sqlalchemy.engine import make_url

    variable = env_name("database_url")
    shown = settings.resolved_database_url
    try:
        shown = make_url(shown).render_as_string(hide_password=True)
    except Exception:
        shown = "the configured URL"
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = first[0] if first else type(exc).__name__
    if not settings.database_url:
        variable = env_name("data_dir")
    return StartupError(variable, f"cannot use the database {shown}: {reason}")


def prepare(settings: Settings, *, bind: bool = True) -> Prepared:
    """Everything ``serve`` needs before its first request, each failure a ``StartupError``."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from .reconciliation.install import install as install_reconciliation
    from .runtime import build_runtime
    from .sandbox.errors import FixtureError
    from .tls import tls_files

    sockets: dict[str, socket.socket] = {}
    try:
        if bind:
            shared = settings.reuse_port
            sockets["http"] = listen(settings.host, settings.port, "port", reuse_port=shared)
            if settings.tls_port:
                sockets["https"] = listen(settings.host, settings.tls_port, "tls_port", reuse_port=shared)
            if settings.sftp_port:
                # Checked here, released for the SFTP server to bind just after (asyncssh binds
                # its own socket).
                listen(settings.host, settings.sftp_port, "sftp_port", reuse_port=shared).close()
        check_data_dir(settings.data_dir)
        try:
            runtime = build_runtime(settings)
        except FixtureError as exc:
            raise StartupError(env_name("fixtures"), f"broken sandbox fixture: {exc}") from exc
        except (ArgumentError, ValueError) as exc:
            if isinstance(exc, ArgumentError) or "URL" in str(exc) or settings.database_url:
                raise _database_error(exc, settings) from exc
            raise
        except (SQLAlchemyError, ModuleNotFoundError) as exc:
            raise _database_error(exc, settings) from exc
        try:
            try:
                reconciliation = install_reconciliation(runtime)
            except ValueError as exc:  # QuoteError: the message names the setting already
                raise StartupError(None, str(exc)) from exc
            if settings.tls_port:
                try:
                    tls_files(settings)
                except OSError as exc:
                    raise StartupError(
                        env_name("data_dir"), f"cannot write the TLS files: {exc.strerror or exc}"
                    ) from exc
        except BaseException:
            runtime.close()
            raise
    except BaseException:
        for sock in sockets.values():
            sock.close()
        raise
    return Prepared(runtime=runtime, reconciliation=reconciliation, sockets=sockets)


def prepare_in_background(settings: Settings) -> Future[Prepared]:
    """``prepare(settings)`` in a thread of its own, started now, for ``serve`` to await.

    Meanwhile the caller imports the web app (FastAPI, the routers, uvicorn): the database's
    work (PostgreSQL creating the schema, seeding) overlaps it instead of following it. The
    modules ``prepare`` and the runtime use, every table model among them, are imported here
    first, in the calling thread, so the two threads never import the same module at once.
    """
    from . import runtime  # noqa: F401  (the models and services)
    from .acceptance import install as _acceptance  # noqa: F401  (its tables, for create_schema)
    from .reconciliation import install as _reconciliation  # noqa: F401

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare")
    try:
        return pool.submit(prepare, settings)
    finally:
        pool.shutdown(wait=False)
