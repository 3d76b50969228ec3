"""``serve`` start-up failures: one line naming the setting's environment variable, exit code 2."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.settings import bundled_fixtures
from emulator.startup import StartupError, check_data_dir, unknown_variables
from emulator.testing import free_port


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``alipay-emulator serve`` with only these ALIPAY_EMULATOR_* variables (plus free ports)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALIPAY_EMULATOR_")}
    clean.update(
        ALIPAY_EMULATOR_PORT=str(free_port()),
        ALIPAY_EMULATOR_TLS_PORT="0",
        ALIPAY_EMULATOR_SFTP_PORT="0",
        ALIPAY_EMULATOR_DATA_DIR=str(tmp_path / "data"),
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "emulator", "serve"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(out: subprocess.CompletedProcess[str], variable: str) -> str:
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"alipay-emulator: {variable}"), lines[0]
    return lines[0]


def test_broken_fixture(tmp_path: Path) -> None:
    folder = tmp_path / "fixtures"
    folder.mkdir()
    for item in bundled_fixtures().iterdir():
        target = folder / item.name
        if item.is_dir():
            target.mkdir()
            for sub in item.iterdir():
                (target / sub.name).write_bytes(sub.read_bytes())
        else:
            target.write_bytes(item.read_bytes())
    (folder / "sandbox.toml").write_text("seed = [\n")
    line = one_line(serve(tmp_path, ALIPAY_EMULATOR_FIXTURES=str(folder)), "ALIPAY_EMULATOR_FIXTURES")
    assert "sandbox.toml" in line


@pytest.mark.parametrize(
    "url",
    ["nonsense", "mysql+nodriver://u@127.0.0.1/x"],
)
def test_bad_database_url(tmp_path: Path, url: str) -> None:
    one_line(serve(tmp_path, ALIPAY_EMULATOR_DATABASE_URL=url), "ALIPAY_EMULATOR_DATABASE_URL")


def test_unreachable_postgres(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{free_port()}/nothing"
    line = one_line(serve(tmp_path, ALIPAY_EMULATOR_DATABASE_URL=url), "ALIPAY_EMULATOR_DATABASE_URL")
    assert "secret" not in line and "127.0.0.1" in line


def test_bad_fx_quotes(tmp_path: Path) -> None:
    out = serve(tmp_path, ALIPAY_EMULATOR_RECONCILIATION_FX_QUOTES="USD/JPY=cheap")
    one_line(out, "ALIPAY_EMULATOR_RECONCILIATION_FX_QUOTES")


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    out = serve(tmp_path, ALIPAY_EMULATOR_DATA_DIR=str(tmp_path / "file"))
    assert "is a file" in one_line(out, "ALIPAY_EMULATOR_DATA_DIR")


def test_read_only_data_dir() -> None:
    # /sys refuses new files even to root (the suite may run as root, which ignores modes).
    with pytest.raises(StartupError) as info:
        check_data_dir(Path("/sys"))
    assert str(info.value).startswith("ALIPAY_EMULATOR_DATA_DIR: /sys is not writable")


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        line = one_line(serve(tmp_path, ALIPAY_EMULATOR_PORT=str(port)), "ALIPAY_EMULATOR_PORT")
    assert f"127.0.0.1:{port}" in line and "in use" in line
    assert not (tmp_path / "data").exists()  # nothing was written before the check


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ALIPAY_EMULATOR_LOG_LEVEL", "loud"),
        ("ALIPAY_EMULATOR_PORT", "70000"),
        ("ALIPAY_EMULATOR_TLS_PORT", "-1"),
    ],
)
def test_settings_are_validated(tmp_path: Path, variable: str, value: str) -> None:
    out = serve(tmp_path, **{variable: value})
    assert out.returncode == 2
    [line] = out.stderr.strip().splitlines()
    assert variable in line


def test_traceback_only_at_debug(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    out = serve(tmp_path, ALIPAY_EMULATOR_DATA_DIR=str(tmp_path / "file"), ALIPAY_EMULATOR_LOG_LEVEL="debug")
    assert out.returncode == 2
    assert "Traceback" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("alipay-emulator: ALIPAY_EMULATOR_DATA_DIR")


def test_unknown_variables_are_warned_about_once(tmp_path: Path) -> None:
    assert unknown_variables({"ALIPAY_EMULATOR_PROT": "1", "ALIPAY_EMULATOR_PORT": "1", "HOME": "/"}) == [
        "ALIPAY_EMULATOR_PROT matches no setting and is ignored (did you mean ALIPAY_EMULATOR_PORT?)"
    ]
    assert unknown_variables({"ALIPAY_EMULATOR_URL": "x", "ALIPAY_EMULATOR_PLUGIN_TLS_PORT": "0"}) == []
    (tmp_path / "file").write_text("")
    out = serve(tmp_path, ALIPAY_EMULATOR_PROT="1", ALIPAY_EMULATOR_DATA_DIR=str(tmp_path / "file"))
    assert out.stderr.count("ALIPAY_EMULATOR_PROT matches no setting") == 1


def test_json_log_format_and_the_ready_line(tmp_path: Path) -> None:
    from emulator.testing import EmulatorServer

    server = EmulatorServer(
        tmp_path / "data",
        sftp_port=free_port(),
        env={"ALIPAY_EMULATOR_LOG_LEVEL": "info", "ALIPAY_EMULATOR_LOG_FORMAT": "json"},
    ).start()
    assert server.stop() == 0
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    [ready] = [r for r in records if r["message"].startswith("alipay-emulator ready")]
    for part in (
        f"HTTP 127.0.0.1:{server.port}",
        f"HTTPS 127.0.0.1:{server.tls_port}",
        f"SFTP 127.0.0.1:{server.sftp_port}",
        f"data dir {(tmp_path / 'data').resolve()}",
        "database sqlite:///",
    ):
        assert part in ready["message"]
    assert ready["level"] == "info" and ready["logger"] == "emulator"


def test_connections_to_the_listening_socket_send_without_delay() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose protocol is TCP: a listener made with
    protocol 0 gave connections on which a response written in two parts (the control API's
    headers, then its body) waited for the client's delayed ACK, about 40 ms per kept-alive call."""
    import asyncio

    from emulator.startup import listen

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        sock = listen("127.0.0.1", 0, "port")
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        try:
            port = sock.getsockname()[1]
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            value = await asyncio.wait_for(seen, timeout=10)
            writer.close()
            return value
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(accepted_nodelay()) != 0


def test_the_background_prepare_knows_every_table_the_app_defines() -> None:
    """prepare_in_background creates the schema while the app is imported: no table may come later."""
    script = (
        "import sys\n"
        "from unittest import mock\n"
        "from sqlmodel import SQLModel\n"
        "from emulator import startup\n"
        "with mock.patch.object(startup, 'prepare', lambda settings: None):\n"
        "    startup.prepare_in_background(None).result()\n"
        "before = set(SQLModel.metadata.tables)\n"
        "import emulator.server\n"
        "print(sorted(set(SQLModel.metadata.tables) - before), len(before))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    missing, known = out.stdout.split("] ")
    assert missing == "[" and int(known) >= 20, out.stdout
