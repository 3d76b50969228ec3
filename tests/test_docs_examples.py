"""Every code block of README.md and docs/*.md, run as written or explicitly classified.

THE CONVENTION (follow it when you add a block): the line right before each fenced block is an
HTML comment, invisible on GitHub, that says what the block is and so how it is checked:

    <!-- docs: run -->        executed here, against a live emulator, exactly as pasted except
                              for the addresses: ``localhost:8080`` becomes the test emulator's
                              HTTP address, ``localhost:2222`` / ``"localhost", 2222`` its SFTP
                              address. ```` ```sh ```` runs under ``bash -e`` with the project's
                              ``.venv/bin`` first on PATH; ```` ```python ```` runs with a user's
                              interpreter holding the official SDK, this project and pytest
                              (the environment the README tells readers to create). A Python
                              block that imports the SDK (``com.alipay``) wants HTTPS on 443;
                              where the suite could not bind 443, only the SDK's connection port
                              is patched (a ``sitecustomize``), as in the other SDK tests.
    <!-- docs: pytest -->     a complete pytest module: written to a file and run with pytest in
                              that user's environment, attached to the live emulator through
                              ALIPAY_EMULATOR_URL (the bundled plugin); every test must pass.
    <!-- docs: covered PATH -->  run for real elsewhere: PATH is the test or script that does it
                              (``.ci/container-test`` for docker blocks, ``.ci/run`` for
                              ``make test``); the file must exist and name what it covers.
    <!-- docs: config -->     configuration for another system (GitHub Actions, GitLab CI): must
                              parse (YAML here), is not run.
    <!-- docs: output -->     not code: sample output, a file layout, a file's contents.
    <!-- docs: external WHY -->  needs what no machine of this project can have (public images
                              from a registry): WHY says what; the text around the block must
                              say it too. The block's compose profile must still parse.

A block without such a comment fails this test.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from .conftest import Live
from .support import REPO, ensure_sdk_venv

pytestmark = pytest.mark.e2e

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
KINDS = ("run", "pytest", "covered", "config", "output", "external")
_FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[\w+-]*)\s*$")
_MARK = re.compile(r"^\s*<!-- docs: (?P<kind>[a-z]+)(?: (?P<arg>\S+))? -->\s*$")


@dataclass(frozen=True)
class Block:
    file: Path
    line: int
    lang: str
    kind: str | None
    arg: str | None
    code: str

    @property
    def name(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        indent = len(fence["indent"])
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        mark = _MARK.match(lines[i - 1]) if i > 0 else None
        code = "\n".join(line[indent:] for line in lines[i + 1 : end]) + "\n"
        found.append(
            Block(
                file=path,
                line=i + 1,
                lang=fence["info"],
                kind=mark["kind"] if mark else None,
                arg=mark["arg"] if mark else None,
                code=code,
            )
        )
        i = end + 1
    return found


ALL = [b for path in DOCS for b in blocks(path)]


def by_kind(*kinds: str) -> list[Block]:
    return [b for b in ALL if b.kind in kinds]


def test_every_block_is_classified() -> None:
    unclassified = [f"{b.name} ({b.lang or 'no language'})" for b in ALL if b.kind not in KINDS]
    assert not unclassified, "blocks without a <!-- docs: KIND --> line before them: " + ", ".join(
        unclassified
    )
    assert len(ALL) >= 20


@pytest.mark.parametrize("block", by_kind("config"), ids=lambda b: b.name)
def test_config_blocks_parse(block: Block) -> None:
    assert block.lang == "yaml", "config blocks are YAML"
    documents = [d for d in yaml.safe_load_all(block.code) if d is not None]
    assert documents and all(isinstance(d, dict) for d in documents)


@pytest.mark.parametrize("block", by_kind("external"), ids=lambda b: b.name)
def test_external_blocks_say_why_and_their_compose_profile_parses(block: Block) -> None:
    assert block.arg, "docs: external needs a word saying what the block needs"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for profile in re.findall(r"--profile (\S+)", block.code):
        services = [s for s in compose["services"].values() if profile in s.get("profiles", [])]
        assert services, f"no service of docker-compose.yml has the profile {profile!r}"


@pytest.mark.parametrize("block", by_kind("covered"), ids=lambda b: b.name)
def test_covered_blocks_name_what_runs_them(block: Block) -> None:
    assert block.arg, "docs: covered needs the path of the test or script that runs the block"
    runner = REPO / block.arg
    assert runner.is_file(), f"{block.arg} does not exist"
    text = runner.read_text()
    # The runner must name something the block runs (a command, a file, an option).
    words = {
        w
        for line in block.code.splitlines()
        if not line.lstrip().startswith("#")
        for w in re.split(r"[\s/'\"=#]+", line.split(" # ")[0])
        if len(w) >= 4
    }
    assert any(w in text for w in words), f"{block.arg} runs none of {sorted(words)}"


def _localise(code: str, live: Live) -> str:
    http = live.process.http_url.removeprefix("http://")
    sftp = live.process.sftp_port
    code = code.replace("localhost:8080", http)
    code = code.replace("localhost:2222", f"127.0.0.1:{sftp}")
    return code.replace('"localhost", 2222', f'"127.0.0.1", {sftp}')


_PORT_PATCH = """
import http.client

from com.alipay.ams.api.net import default_http_rpc


class _PortPatched(http.client.HTTPSConnection):
    def __init__(self, host, port=None, **kw):
        super().__init__(host, port={port}, **kw)


class _Shim:
    HTTPSConnection = _PortPatched


default_http_rpc.http_client = _Shim
"""


def _user_env(live: Live, tmp_path: Path, code: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALIPAY_EMULATOR_")}
    env["SSL_CERT_FILE"] = str(live.process.ca_file)
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if live.process.tls_port != 443 and "com.alipay" in code:
        # The Python SDK always connects to 443: patch only that port, like tests/sdk/driver.py.
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(_PORT_PATCH.format(port=live.process.tls_port))
        env["PYTHONPATH"] = str(site)
    return env


@pytest.mark.parametrize("block", by_kind("run"), ids=lambda b: b.name)
def test_run_blocks_run_as_written(block: Block, emu: Live, tmp_path: Path) -> None:
    from .test_pytest_plugin import user_python

    code = _localise(block.code, emu)
    if block.lang == "sh":
        command = ["bash", "-e", "-c", code]
    else:
        assert block.lang == "python", f"run blocks are sh or python, not {block.lang!r}"
        script = tmp_path / "block.py"
        script.write_text(code)
        command = [str(user_python()), str(script)]
    out = subprocess.run(
        command, env=_user_env(emu, tmp_path, code), capture_output=True, text=True, timeout=180, cwd=tmp_path
    )
    assert out.returncode == 0, f"{block.name}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"


@pytest.mark.parametrize("block", by_kind("pytest"), ids=lambda b: b.name)
def test_pytest_blocks_pass(block: Block, emu: Live, tmp_path: Path) -> None:
    from .test_pytest_plugin import user_python

    (tmp_path / "test_block.py").write_text(block.code)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = _user_env(emu, tmp_path, block.code)
    env["ALIPAY_EMULATOR_URL"] = emu.process.http_url
    out = subprocess.run(
        [str(user_python()), "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_block.py"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert out.returncode == 0, f"{block.name}\n{out.stdout[-4000:]}\n{out.stderr[-2000:]}"
    assert " passed" in out.stdout and "failed" not in out.stdout


def test_quickstart_runs_as_written(emu: Live, tmp_path: Path) -> None:
    """The quick start's examples/quickstart.py, in the SDK's own virtual environment."""
    env = _user_env(emu, tmp_path, "com.alipay")
    env["EMULATOR_CONTROL_URL"] = emu.process.http_url
    out = subprocess.run(
        [str(ensure_sdk_venv()), str(REPO / "examples" / "quickstart.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "pay: SUCCESS" in out.stdout
    assert "inquiryPayment: SUCCESS" in out.stdout
