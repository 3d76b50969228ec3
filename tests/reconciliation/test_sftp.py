"""The SFTP drop's security: password logins only, each login confined to its customer
folders, read-only. Driven with asyncssh's own client against an in-process server."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from emulator.reconciliation.sftp import HOST_KEY_FILE, ensure_host_key, start_sftp_server

from .world import (
    DAY,
    ISV_CUSTOMER,
    ISV_MERCHANT,
    JPY_MERCHANT,
    USD_MERCHANT,
    World,
    golden_transactions,
    make_world,
)

YMD = DAY.replace("-", "")
HOME = f"/v1/settlements/{USD_MERCHANT}"
ITEMS = f"{HOME}/{YMD}/transactionItems_{YMD}_000.csv"
USD = (f"sftp_{USD_MERCHANT}", "usd-secret")
ISV = (f"sftp_{ISV_CUSTOMER}", "isv-secret")

Session = Callable[[asyncssh.SFTPClient], Awaitable[Any]]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path / "data")
    w.add(*golden_transactions())
    w.service.run(day=date.fromisoformat(DAY))
    root = w.service.root
    # Bait: a link out of the folder, a half-written file.
    (root / USD_MERCHANT / YMD / "escape.csv").symlink_to(w.data_dir / "emulator.db")
    (root / USD_MERCHANT / YMD / "transactionItems_x_000.csv.tmp").write_text("partial")
    yield w
    w.close()


def sftp(world: World, credentials: tuple[str, str], session: Session) -> Any:
    """Start the server, log in with ``credentials``, run ``session``, stop everything."""

    async def scenario() -> Any:
        drop = await start_sftp_server(world.service, host="127.0.0.1", port=0, data_dir=world.data_dir)
        try:
            async with (
                asyncssh.connect(
                    "127.0.0.1",
                    drop.port,
                    username=credentials[0],
                    password=credentials[1],
                    known_hosts=None,
                    client_keys=None,
                    agent_path=None,
                ) as conn,
                conn.start_sftp_client() as client,
            ):
                return await session(client)
        finally:
            await drop.stop()

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    "credentials",
    [
        (USD[0], "wrong"),
        (USD[0], ""),
        ("sftp_nobody", "usd-secret"),
        ("", ""),
        (USD[0], "isv-secret"),  # another login's password
    ],
)
def test_wrong_credentials_are_refused(world: World, credentials: tuple[str, str]) -> None:
    async def nothing(client: asyncssh.SFTPClient) -> None:
        raise AssertionError("logged in")

    with pytest.raises(asyncssh.PermissionDenied):
        sftp(world, credentials, nothing)


def test_a_login_reads_its_own_reports(world: World) -> None:
    async def session(client: asyncssh.SFTPClient) -> dict[str, Any]:
        out: dict[str, Any] = {"cwd": await client.getcwd()}
        out["root"] = sorted(n for n in await client.listdir("/") if n not in (".", ".."))
        out["settlements"] = sorted(
            n for n in await client.listdir("/v1/settlements") if n not in (".", "..")
        )
        out["day"] = sorted(n for n in await client.listdir(f"{HOME}/{YMD}") if n not in (".", ".."))
        async with client.open(ITEMS, "rb") as f:
            out["items"] = await f.read()
        async with client.open(f"{YMD}/transactionItems_{YMD}_000.csv", "rb") as f:
            out["relative"] = await f.read()
        out["mode"] = (await client.stat(ITEMS)).permissions
        return out

    seen = sftp(world, USD, session)
    assert seen["cwd"] == HOME
    assert seen["root"] == ["v1"]
    assert seen["settlements"] == [USD_MERCHANT]
    # The .tmp file is listed, as on the real drop (never read .tmp files); the link is not.
    assert seen["day"] == [f"transactionItems_{YMD}_000.csv", "transactionItems_x_000.csv.tmp"]
    assert (
        seen["items"]
        == seen["relative"]
        == (world.service.root / USD_MERCHANT / YMD / f"transactionItems_{YMD}_000.csv").read_bytes()
    )
    assert seen["mode"] & 0o222 == 0


def test_an_isv_login_also_reads_its_merchants_reports(world: World) -> None:
    async def session(client: asyncssh.SFTPClient) -> list[str]:
        return sorted(n for n in await client.listdir("/v1/settlements") if n not in (".", ".."))

    assert sftp(world, ISV, session) == sorted([ISV_CUSTOMER, ISV_MERCHANT])


@pytest.mark.parametrize(
    "path",
    [
        "/emulator.db",
        "../../../emulator.db",
        f"{HOME}/../../../emulator.db",
        f"{HOME}/{YMD}/../../../../tls/ca-key.pem",
        "/tls/ca.pem",
        "/sftp/ssh_host_ed25519_key",
        f"/v1/settlements/{JPY_MERCHANT}/{YMD}/transactionItems_{YMD}_000.csv",
        f"/v1/settlements/{ISV_MERCHANT}/{YMD}/transactionItems_{YMD}_000.csv",
        f"{HOME}/{YMD}/escape.csv",
        f"{HOME}/{YMD}/%2e%2e/%2e%2e/%2e%2e/emulator.db",
        "/v1/settlements/../../emulator.db",
    ],
)
def test_nothing_outside_the_login_folders_exists(world: World, path: str) -> None:
    async def session(client: asyncssh.SFTPClient) -> list[type[BaseException] | None]:
        outcomes: list[type[BaseException] | None] = []
        for attempt in (client.stat, client.listdir, lambda p: _read(client, p)):
            try:
                await attempt(path)
                outcomes.append(None)
            except asyncssh.SFTPError as exc:
                outcomes.append(type(exc))
        return outcomes

    outcomes = sftp(world, USD, session)
    # Indistinguishable from a file that does not exist: stat, listdir and open alike.
    assert outcomes == [asyncssh.SFTPNoSuchFile] * 3, outcomes


async def _read(client: asyncssh.SFTPClient, path: str) -> bytes:
    async with client.open(path, "rb") as f:
        data: bytes = await f.read()
        return data


def test_the_drop_is_read_only(world: World, tmp_path: Path) -> None:
    local = tmp_path / "upload.csv"
    local.write_text("hello")
    target = world.service.root / USD_MERCHANT / YMD / f"transactionItems_{YMD}_000.csv"
    before = target.read_bytes()
    attempts: dict[str, Callable[[asyncssh.SFTPClient], Awaitable[Any]]] = {
        "put": lambda c: c.put(str(local), f"{HOME}/{YMD}/new.csv"),
        "overwrite": lambda c: c.put(str(local), ITEMS),
        "open-write": lambda c: c.open(ITEMS, "wb"),
        "open-append": lambda c: c.open(ITEMS, "ab"),
        "open-readwrite": lambda c: c.open(ITEMS, "r+b"),
        "create": lambda c: c.open(f"{HOME}/new.csv", "xb"),
        "remove": lambda c: c.remove(ITEMS),
        "rename": lambda c: c.rename(ITEMS, f"{HOME}/{YMD}/moved.csv"),
        "posix-rename": lambda c: c.posix_rename(ITEMS, f"{HOME}/{YMD}/moved.csv"),
        "mkdir": lambda c: c.mkdir(f"{HOME}/new"),
        "rmdir": lambda c: c.rmdir(f"{HOME}/{YMD}"),
        "chmod": lambda c: c.chmod(ITEMS, 0o777),
        "utime": lambda c: c.utime(ITEMS, (0, 0)),
        "truncate": lambda c: c.truncate(ITEMS, 0),
        "symlink": lambda c: c.symlink("/etc/passwd", f"{HOME}/link"),
        "link": lambda c: c.link(ITEMS, f"{HOME}/hard"),
    }

    async def session(client: asyncssh.SFTPClient) -> dict[str, str]:
        refused: dict[str, str] = {}
        for name, attempt in attempts.items():
            try:
                result = await attempt(client)
                if isinstance(result, asyncssh.SFTPClientFile):
                    await result.close()
                refused[name] = "ALLOWED"
            except (asyncssh.SFTPError, OSError) as exc:
                refused[name] = type(exc).__name__
        return refused

    refused = sftp(world, USD, session)
    assert set(refused.values()) == {"SFTPPermissionDenied"}, refused
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == sorted(
        ["escape.csv", target.name, "transactionItems_x_000.csv.tmp"]
    )
    assert not (target.parent.parent / "new").exists()


def test_shell_and_exec_are_refused(world: World) -> None:
    async def scenario() -> None:
        drop = await start_sftp_server(world.service, host="127.0.0.1", port=0, data_dir=world.data_dir)
        try:
            async with asyncssh.connect(
                "127.0.0.1",
                drop.port,
                username=USD[0],
                password=USD[1],
                known_hosts=None,
                client_keys=None,
                agent_path=None,
            ) as conn:
                with pytest.raises(asyncssh.ChannelOpenError):
                    await conn.run("cat /etc/passwd", check=False)
                with pytest.raises(asyncssh.ChannelOpenError):
                    await conn.create_connection(asyncssh.SSHTCPSession, "127.0.0.1", 22)
        finally:
            await drop.stop()

    asyncio.run(scenario())


def test_the_host_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    first = ensure_host_key(tmp_path)
    second = ensure_host_key(tmp_path)
    assert first.export_public_key() == second.export_public_key()
    mode = stat.S_IMODE(os.stat(tmp_path / HOST_KEY_FILE).st_mode)
    assert mode == 0o600
    pub = (tmp_path / HOST_KEY_FILE).with_name(HOST_KEY_FILE.name + ".pub").read_bytes()
    assert pub.split()[:2] == first.export_public_key().split()[:2]


def test_repeated_wrong_passwords_slow_down(world: World) -> None:
    """Each wrong password from one address waits 0.25 s longer, across connections (#14)."""
    import time

    async def attempt(port: int, password: str) -> float:
        started = time.monotonic()
        try:
            async with asyncssh.connect(
                "127.0.0.1",
                port,
                username=USD[0],
                password=password,
                known_hosts=None,
                client_keys=None,
                agent_path=None,
            ):
                pass
        except asyncssh.PermissionDenied:
            pass
        return time.monotonic() - started

    async def scenario() -> list[float]:
        drop = await start_sftp_server(world.service, host="127.0.0.1", port=0, data_dir=world.data_dir)
        try:
            times = [await attempt(drop.port, "wrong") for _ in range(4)]
            times.append(await attempt(drop.port, USD[1]))  # the right one: resets the count
            times.append(await attempt(drop.port, "wrong"))
            return times
        finally:
            await drop.stop()

    times = asyncio.run(scenario())
    assert sum(times[:4]) >= 0.25 + 0.5 + 0.75 + 1.0
    assert times[3] >= 1.0 > times[0] + 0.5
    assert times[5] < times[3]
