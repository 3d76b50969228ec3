"""``alipay-emulator app ...`` and ``keys generate``: on the data directory and against a running emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emulator.cli import main
from emulator.signing import load_private_key, load_public_key, public_key_b64

from .conftest import Live


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def as_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


CREATE = [
    "app",
    "create",
    "--role",
    "ISV",
    "--name",
    "CLI ISV",
    "--test-currency",
    "USD",
    "--scenarios",
    "PaymentCode",
]


def test_keys_generate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pair = as_json(capsys, "keys", "generate", "--out", str(tmp_path / "k"))
    key = load_private_key(pair["privateKeyPem"])
    assert pair["privateKeyPem"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert load_private_key(pair["privateKey"]).private_numbers() == key.private_numbers()
    assert public_key_b64(load_public_key(pair["publicKey"])) == public_key_b64(key.public_key())
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == [
        "TEST-ONLY-merchant-private-pkcs1.pem",
        "TEST-ONLY-merchant-private-pkcs8.b64",
        "TEST-ONLY-merchant-public-spki.b64",
    ]
    code, text, _ = run(capsys, "keys", "generate")
    assert code == 0 and "TEST-ONLY" in text and "BEGIN RSA PRIVATE KEY" in text


def test_app_commands_on_the_data_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]  # the data-directory commands take only storage options
    created = as_json(capsys, *CREATE, *data)
    cid = created["clientId"]
    assert created["role"] == "ISV" and created["scenarios"] == ["PaymentCode"] and created["testToken"]
    listed = as_json(capsys, "app", "list", *data)["applications"]
    assert [a["clientId"] for a in listed][-1] == cid and len(listed) == 5
    code, text, _ = run(capsys, "app", "list", *data)
    assert code == 0 and cid in text and "IN_DEVELOPMENT" in text
    code, text, _ = run(capsys, "app", "show", cid, *data)
    assert code == 0 and f"Client ID: {cid}" in text and "Test token:" in text
    code, _, err = run(capsys, "app", "launch", cid, *data)
    assert code == 1 and "livePublicKey" in err
    pair = as_json(capsys, "keys", "generate", "--out", str(tmp_path / "k"))
    key_file = tmp_path / "k" / "TEST-ONLY-merchant-public-spki.b64"
    code, _, err = run(capsys, "app", "launch", cid, "--public-key-file", str(key_file), *data)
    assert code == 1 and "acceptance" in err  # the go-live gate: no passed acceptance run yet
    launched = as_json(capsys, "app", "launch", cid, "--force", *data)
    assert (
        launched["status"] == "LAUNCHED_WITHOUT_ACCEPTANCE"
        and launched["live"]["publicKey"] == pair["publicKey"]
    )
    code, _, err = run(capsys, "app", "launch", cid, *data)
    assert code == 1 and "already launched" in err
    code, _, err = run(capsys, "app", "launch", cid, "--public-key-file", str(tmp_path / "missing"), *data)
    assert code == 2 and "--public-key-file" in err
    code, _, err = run(capsys, *CREATE[:-2], "--scenarios", "Teleport", *data)
    assert code == 1 and err.startswith("alipay-emulator: scenarios:")
    code, _, err = run(
        capsys, "app", "create", "--role", "MERCHANT", "--name", "x", "--test-currency", "XYZ", *data
    )
    assert code == 1 and "testCurrency" in err
    assert len(as_json(capsys, "app", "list", *data)["applications"]) == 5
    seeded = listed[0]["clientId"]
    code, _, err = run(capsys, "app", "delete", seeded, *data)
    assert code == 1 and "sandbox.toml" in err
    code, text, _ = run(capsys, "app", "delete", cid, *data)
    assert code == 0 and f"deleted {cid}" in text
    code, _, err = run(capsys, "app", "show", cid, *data)
    assert code == 1 and "no application" in err
    with pytest.raises(SystemExit):
        main(["app", "create", "--role", "CHEF", "--name", "x", "--test-currency", "USD", *data])
    capsys.readouterr()


def test_app_commands_against_a_running_emulator(
    capsys: pytest.CaptureFixture[str], emu: Live, tmp_path: Path
) -> None:
    url = ["--url", emu.process.http_url]
    created = as_json(capsys, *CREATE, *url)
    cid = created["clientId"]
    try:
        assert emu.control.application(cid)["name"] == "CLI ISV"
        assert cid in [a["clientId"] for a in as_json(capsys, "app", "list", *url)["applications"]]
        assert as_json(capsys, "app", "show", cid, *url)["testToken"] == created["testToken"]
        code, _, err = run(capsys, "app", "launch", cid, *url)
        assert code == 1 and "livePublicKey" in err
        as_json(capsys, "keys", "generate", "--out", str(tmp_path / "k"))
        key_file = str(tmp_path / "k" / "TEST-ONLY-merchant-public-spki.b64")
        launched = as_json(capsys, "app", "launch", cid, "--public-key-file", key_file, "--force", *url)
        assert launched["environment"] == "LIVE"
        assert emu.control.authorization_url(cid).endswith(
            f"/_emulator/isv/{launched['live']['productionClientId']}/authorize"
        )
        code, _, err = run(capsys, "app", "show", "SANDBOX_NOPE", *url)
        assert code == 1 and "SANDBOX_NOPE" in err
        code, _, err = run(capsys, *CREATE[:-2], "--scenarios", "Teleport", *url)
        assert code == 1 and "scenarios" in err
    finally:
        code, text, _ = run(capsys, "app", "delete", cid, *url)
    assert code == 0 and cid in text
    code, _, err = run(capsys, "app", "delete", cid, *url)
    assert code == 1
