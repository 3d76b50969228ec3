"""Pure parts of the console: the signature comparison and the Code 128 encoder."""

from __future__ import annotations

from emulator.gateway.diagnosis import compare_signed, split_difference
from emulator.wallet.barcode import PATTERNS, STOP, code128_svg, modules, symbols


def test_path_prefix_difference_is_marked() -> None:
    c = compare_signed(
        method="POST",
        path="/ams/sandbox/api/v1/payments/pay",
        client_id_header="SANDBOX_1",
        request_time="2026-12-01T10:00:00+08:00",
        body='{"a":1}',
        differs="path: signed over /ams/api/v1/payments/pay, but ...",
    )
    assert c.explained and c.differing == ("method and path",)
    part = c.parts[0]
    assert part.verified.mid == "sandbox/" and part.likely.mid == ""
    assert c.likely_string.startswith("POST /ams/api/v1/payments/pay\nSANDBOX_1.")
    assert (
        c.verified_string
        == 'POST /ams/sandbox/api/v1/payments/pay\nSANDBOX_1.2026-12-01T10:00:00+08:00.{"a":1}'
    )


def test_body_whitespace_and_unexplained_client_id() -> None:
    body = compare_signed(
        method="POST", path="/p", client_id_header="C", request_time="t", body="{}\n\n", differs="body: ..."
    )
    assert body.differing == ("body",) and body.parts[3].verified.mid == "\n\n"
    unknown = compare_signed(
        method="POST",
        path="/p",
        client_id_header=" C ",
        request_time="t",
        body="{}",
        differs="no common variant",
    )
    assert not unknown.explained and unknown.differing == ("client ID",)
    same = compare_signed(
        method="POST", path="/p", client_id_header="C", request_time="t", body="{}", differs=None
    )
    assert same.differing == () and not same.explained


def test_split_difference() -> None:
    a, b = split_difference("abcXYdef", "abcZdef")
    assert (a.head, a.mid, a.tail) == ("abc", "XY", "def") and b.mid == "Z"


def test_code128_table_and_checksum() -> None:
    assert len(PATTERNS) == 107 and len(set(PATTERNS)) == 107
    assert all(sum(map(int, p)) == 11 for p in PATTERNS[:STOP]) and sum(map(int, PATTERNS[STOP])) == 13
    code = "281234567890123456789012"
    values = symbols(code)
    assert values[0] == 105 and values[1:-2] == [int(code[i : i + 2]) for i in range(0, 24, 2)]
    assert values[-2] == (105 + sum(i * v for i, v in enumerate(values[1:-2], start=1))) % 103
    # Decoding the bars back gives the same symbols.
    bars = modules(code)
    runs: list[int] = []
    for ch in bars:
        if runs and (len(runs) % 2 == 1) == (ch == "1"):
            runs[-1] += 1
        else:
            runs.append(1)
    decoded = [PATTERNS.index("".join(map(str, runs[i : i + 6]))) for i in range(0, len(runs) - 7, 6)]
    assert decoded == values[:-1]
    assert symbols("A<b")[0] == 104
    svg = code128_svg("<&>")
    assert "&lt;&amp;&gt;" in svg and "<&>" not in svg
