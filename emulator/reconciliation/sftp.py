"""The SFTP drop (spec §6.1): read-only, one login per application, confined to its reports.

Each application's ``sftp`` credentials (sandbox resources) log in to a virtual tree::

    /v1/settlements/<customerId>/<yyyyMMdd>/<report>.csv

showing only the customer folders that login may read: the application's own, and for an ISV
also those of the merchants it acts for (its test merchant and any authorised merchant; their
reports carry the ISV's transactions, spec §6.1 "customerId | merchantIdByAcquirer"). The
session starts in ``/v1/settlements/<customerId>``. Nothing else of the data directory (the
database, the TLS keys) exists in that tree; every change (write, remove, rename, mkdir,
setstat, links) is refused with "permission denied".

The host key is generated once into ``<data dir>/sftp/`` and reused, so clients can pin it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NoReturn

import asyncssh
from asyncssh.constants import (
    ACE4_APPEND_DATA,
    ACE4_WRITE_ATTRIBUTES,
    ACE4_WRITE_DATA,
    FILEXFER_TYPE_DIRECTORY,
    FXF_ACCESS_DISPOSITION,
    FXF_APPEND,
    FXF_CREAT,
    FXF_EXCL,
    FXF_OPEN_EXISTING,
    FXF_TRUNC,
    FXF_WRITE,
)

from .. import identity
from . import formats
from .service import ReconciliationService, SftpAccount

log = logging.getLogger("emulator.sftp")

HOST_KEY_FILE = Path("sftp") / "ssh_host_ed25519_key"
_WRITE_FLAGS = FXF_WRITE | FXF_APPEND | FXF_CREAT | FXF_TRUNC | FXF_EXCL
_WRITE_ACCESS = ACE4_WRITE_DATA | ACE4_APPEND_DATA | ACE4_WRITE_ATTRIBUTES
_DIR_MODE = stat.S_IFDIR | 0o555


def ensure_host_key(data_dir: Path, *, database_url: str | None = None) -> asyncssh.SSHKey:
    """The server's host key: generated on first start, then read back (owner-only file).

    With a database it is the one kept there (``identity``), so every process of a sandbox
    presents the same host key; the file is a copy.
    """
    path = data_dir / HOST_KEY_FILE

    def local() -> bytes:
        if path.exists():
            return path.read_bytes()
        made = asyncssh.generate_private_key("ssh-ed25519", comment="alipay-emulator sftp host key")
        return bytes(made.export_private_key())

    if database_url is None and path.exists():
        return asyncssh.read_private_key(path)
    if database_url is None:
        pem = local()
    else:
        pem = identity.shared(database_url, "sftp-host-key", lambda: local().decode()).encode()
    key = asyncssh.import_private_key(pem)
    if not path.exists() or path.read_bytes() != pem:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.replace(tmp, path)
        key.write_public_key(path.with_name(path.name + ".pub"))
    return key


def _denied(what: str) -> NoReturn:
    raise asyncssh.SFTPPermissionDenied(f"read-only: {what} is not allowed")


def _missing() -> NoReturn:
    raise asyncssh.SFTPNoSuchFile("No such file")


class ReportsSftpServer(asyncssh.SFTPServer):
    """A virtual, read-only view of the report tree for one authenticated account."""

    def __init__(
        self,
        chan: asyncssh.SSHServerChannel[bytes],
        *,
        root: Path,
        account: SftpAccount,
        service: ReconciliationService,
    ) -> None:
        super().__init__(chan)
        self._service = service
        self._root = root
        self._account = account
        self._home = "/" + "/".join((*formats.ROOT, account.home))

    # -- the namespace ---------------------------------------------------------------------

    def _virtual(self, path: bytes) -> str:
        try:
            text = path.decode("utf-8")
        except UnicodeDecodeError:
            _missing()
        # Normalised against the home folder: ".." never climbs above "/".
        return posixpath.normpath(posixpath.join(self._home, text)) if text else self._home

    def _listing(self, virtual: str) -> list[str] | None:
        """Names in a virtual folder above the customer folders; None below them."""
        parts = [p for p in virtual.split("/") if p]
        if parts == []:
            return [formats.ROOT[0]]
        if parts == [formats.ROOT[0]]:
            return [formats.ROOT[1]]
        if parts == list(formats.ROOT):
            return sorted(self._account.customer_ids)
        return None

    def _real(self, virtual: str) -> Path:
        """The file behind a path inside a readable customer folder, or no such file."""
        parts = [p for p in virtual.split("/") if p]
        if len(parts) < 3 or tuple(parts[:2]) != formats.ROOT:
            _missing()
        if parts[2] not in self._account.customer_ids:
            _missing()  # another merchant's folder does not exist for this login
        base = self._root / parts[2]
        real = base.joinpath(*parts[3:])
        try:
            resolved = real.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError, RuntimeError):
            if len(parts) == 3:
                return base  # the customer folder exists before its first report
            _missing()
        if not resolved.is_relative_to(base.resolve()):
            _missing()  # a link pointing out of the folder
        return resolved

    def _attrs(self, virtual: str) -> asyncssh.SFTPAttrs:
        if self._listing(virtual) is not None:
            return self._dir_attrs()
        real = self._real(virtual)
        if not real.exists():
            return self._dir_attrs()  # an empty customer folder
        return self._read_only(os.stat(real))

    @staticmethod
    def _dir_attrs() -> asyncssh.SFTPAttrs:
        return asyncssh.SFTPAttrs(
            type=FILEXFER_TYPE_DIRECTORY, size=0, uid=0, gid=0, permissions=_DIR_MODE, nlink=1
        )

    @staticmethod
    def _read_only(result: os.stat_result) -> asyncssh.SFTPAttrs:
        attrs = asyncssh.SFTPAttrs.from_local(result)
        attrs.permissions = result.st_mode & ~0o222
        attrs.uid = attrs.gid = 0
        attrs.owner = attrs.group = "alipay"
        return attrs

    # -- reading ---------------------------------------------------------------------------

    def map_path(self, path: bytes) -> bytes:
        # Every operation goes through the methods below; a default one reaching the local
        # filesystem directly would bypass the confinement, so none may.
        _denied("this operation")

    def realpath(self, path: bytes) -> bytes:
        return self._virtual(path).encode()

    def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return self._attrs(self._virtual(path))

    def lstat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return self._attrs(self._virtual(path))

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        return self._read_only(os.fstat(file_obj.fileno()))  # type: ignore[attr-defined]

    async def scandir(self, path: bytes) -> AsyncIterator[asyncssh.SFTPName]:
        virtual = self._virtual(path)
        names = self._listing(virtual)
        yield asyncssh.SFTPName(b".", attrs=self._dir_attrs())
        yield asyncssh.SFTPName(b"..", attrs=self._dir_attrs())
        if names is not None:
            for name in names:
                yield asyncssh.SFTPName(name.encode(), attrs=self._dir_attrs())
            return
        real = self._real(virtual)
        if not real.exists():
            return
        if not real.is_dir():
            raise asyncssh.SFTPNotADirectory("Not a directory")
        with os.scandir(real) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
                    continue
                try:
                    attrs = self._read_only(entry.stat())
                except FileNotFoundError:
                    continue  # a .tmp renamed into place meanwhile
                yield asyncssh.SFTPName(entry.name.encode(), attrs=attrs)

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if pflags & _WRITE_FLAGS:
            _denied("writing")
        return self._open_read(self._virtual(path))

    def open56(self, path: bytes, desired_access: int, flags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if desired_access & _WRITE_ACCESS or (flags & FXF_ACCESS_DISPOSITION) != FXF_OPEN_EXISTING:
            _denied("writing")
        return self._open_read(self._virtual(path))

    def _open_read(self, virtual: str) -> object:
        if self._listing(virtual) is not None:
            raise asyncssh.SFTPFileIsADirectory("Is a directory")
        real = self._real(virtual)
        if real.is_dir():
            raise asyncssh.SFTPFileIsADirectory("Is a directory")
        if not real.is_file():
            _missing()
        self._downloaded(virtual)
        return open(real, "rb", buffering=0)  # the SFTP handler closes it

    def _downloaded(self, virtual: str) -> None:
        # Evidence for acceptance case RECON-001; a failure to note it never fails the read.
        try:
            self._service.record_download(virtual, channel="sftp", client_id=self._account.client_id)
        except Exception:
            log.exception("sftp: could not record the download of %s", virtual)

    def fsync(self, file_obj: object) -> None:
        return None  # nothing was written

    # -- refused ---------------------------------------------------------------------------

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        _denied("writing")

    def remove(self, path: bytes) -> None:
        _denied("removing")

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        _denied("creating folders")

    def rmdir(self, path: bytes) -> None:
        _denied("removing folders")

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        _denied("renaming")

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        _denied("renaming")

    def setstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        _denied("changing attributes")

    def lsetstat(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        _denied("changing attributes")

    def fsetstat(self, file_obj: object, attrs: asyncssh.SFTPAttrs) -> None:
        _denied("changing attributes")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        _denied("creating links")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        _denied("creating links")

    def readlink(self, path: bytes) -> bytes:
        _missing()

    def statvfs(self, path: bytes) -> Any:
        raise asyncssh.SFTPOpUnsupported("statvfs is not supported")

    def fstatvfs(self, file_obj: object) -> Any:
        raise asyncssh.SFTPOpUnsupported("statvfs is not supported")


class _SshServer(asyncssh.SSHServer):
    """Password logins only, checked against the applications' ``sftp`` blocks."""

    def __init__(
        self,
        service: ReconciliationService,
        live: set[asyncssh.SSHServerConnection],
        failures: FailedLogins | None = None,
    ) -> None:
        self._service = service
        self._live = live
        self._failures = failures or FailedLogins()
        self._conn: asyncssh.SSHServerConnection | None = None
        self.account: SftpAccount | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._live.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._live.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # every login needs a password

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        account = await asyncio.to_thread(self._service.sftp_account, username, password)
        peer = self._peer()
        if account is None:
            delay = self._failures.failed(peer)
            log.info("sftp: refused login for %r from %s (answer delayed %.2f s)", username, peer, delay)
            await asyncio.sleep(delay)
            return False
        self._failures.succeeded(peer)
        self.account = account
        return True

    def _peer(self) -> str:
        peer = self._conn.get_extra_info("peername") if self._conn is not None else None
        return str(peer[0]) if peer else "?"


class FailedLogins:
    """Wrong passwords slow down, per client address: 0.25 s more per failure, up to 3 s.

    Shared by every connection of one server, so opening a new connection does not reset it; a
    correct password does. At most ``MAX_TRACKED`` addresses are remembered (oldest dropped).
    """

    STEP = 0.25
    CAP = 3.0
    MAX_TRACKED = 1024

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def failed(self, peer: str) -> float:
        count = self._counts.pop(peer, 0) + 1
        self._counts[peer] = count
        while len(self._counts) > self.MAX_TRACKED:
            del self._counts[next(iter(self._counts))]
        return min(self.STEP * count, self.CAP)

    def succeeded(self, peer: str) -> None:
        self._counts.pop(peer, None)


def _sftp_session(
    service: ReconciliationService, chan: asyncssh.SSHServerChannel[bytes]
) -> asyncssh.SFTPServer:
    owner = chan.get_connection().get_owner()
    account = owner.account if isinstance(owner, _SshServer) else None
    if account is None:  # unreachable: sessions open only after a successful login
        raise asyncssh.SFTPPermissionDenied("not logged in")
    return ReportsSftpServer(chan, root=service.root, account=account, service=service)


class SftpDrop:
    """The running SFTP server: its port, and ``stop()`` (listener and open sessions)."""

    def __init__(self, acceptor: asyncssh.SSHAcceptor, live: set[asyncssh.SSHServerConnection]) -> None:
        self._acceptor = acceptor
        self._live = live

    @property
    def port(self) -> int:
        return self._acceptor.get_port()

    async def stop(self, grace: float = 5.0) -> None:
        self._acceptor.close()
        connections = list(self._live)
        for conn in connections:
            conn.close()
        if connections:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in connections], timeout=grace)
        await self._acceptor.wait_closed()


async def start_sftp_server(
    service: ReconciliationService,
    *,
    host: str,
    port: int,
    data_dir: Path,
    database_url: str | None = None,
    reuse_port: bool = False,
) -> SftpDrop:
    """Listen for SFTP on ``host:port`` (0: any free port); ``stop()`` the result to close."""
    if logging.getLogger("asyncssh").level == logging.NOTSET:
        # asyncssh logs every connection at INFO; keep the emulator's log about the emulator.
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
    key = await asyncio.to_thread(ensure_host_key, data_dir, database_url=database_url)
    live: set[asyncssh.SSHServerConnection] = set()
    failures = FailedLogins()
    acceptor = await asyncssh.listen(
        host,
        port,
        server_host_keys=[key],
        server_factory=lambda: _SshServer(service, live, failures),
        sftp_factory=lambda chan: _sftp_session(service, chan),
        allow_scp=False,
        login_timeout=30,
        reuse_address=True,
        reuse_port=reuse_port,
    )
    return SftpDrop(acceptor, live)
