"""What a client most likely signed beside what the emulator verified, part by part. Pure.

The string-to-sign has four parts (spec §2.4): ``<METHOD> <path>``, the client ID, the request
time and the body bytes. The gateway's signature check names the first common mistake whose
variant verifies (``Diagnosis.differs``: ``path: ...``, ``body: ...``, ``keyVersion: ...``);
from that and the call as received this module rebuilds the likely signed string and marks the
part that differs, for the request log's detail view.
"""

from __future__ import annotations

from dataclasses import dataclass

SANDBOX_PREFIX = "/ams/sandbox/api/"
LIVE_PREFIX = "/ams/api/"


@dataclass(frozen=True, slots=True)
class Segments:
    """A value split around the part that differs from its counterpart: ``head + mid + tail``."""

    head: str
    mid: str
    tail: str


@dataclass(frozen=True, slots=True)
class SignedPart:
    name: str  # "method and path", "client ID", "request time", "body"
    verified: Segments
    likely: Segments
    differs: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class SignatureComparison:
    parts: tuple[SignedPart, ...]
    verified_string: str
    likely_string: str
    explained: bool  # a known mistake reproduces the client's signature
    summary: str

    @property
    def differing(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts if p.differs)


def split_difference(a: str, b: str) -> tuple[Segments, Segments]:
    """Common head and tail of ``a`` and ``b``; the middles are what differs."""
    limit = min(len(a), len(b))
    start = 0
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    while end < limit - start and a[len(a) - 1 - end] == b[len(b) - 1 - end]:
        end += 1
    return (
        Segments(a[:start], a[start : len(a) - end], a[len(a) - end :]),
        Segments(b[:start], b[start : len(b) - end], b[len(b) - end :]),
    )


def other_prefix(path: str) -> str:
    """The path under the other gateway prefix: the SDKs rewrite it for SANDBOX_ client IDs."""
    if path.startswith(SANDBOX_PREFIX):
        return LIVE_PREFIX + path[len(SANDBOX_PREFIX) :]
    if path.startswith(LIVE_PREFIX):
        return SANDBOX_PREFIX + path[len(LIVE_PREFIX) :]
    return path


def _part(name: str, verified: str, likely: str, note: str = "") -> SignedPart:
    if verified == likely:
        whole = Segments(verified, "", "")
        return SignedPart(name, whole, whole, False)
    v, lk = split_difference(verified, likely)
    return SignedPart(name, v, lk, True, note)


def compare_signed(
    *,
    method: str,
    path: str,
    client_id_header: str,
    request_time: str,
    body: str,
    differs: str | None,
) -> SignatureComparison:
    """The verified string-to-sign and the one the client most likely signed, part by part.

    ``differs`` is the gateway's finding (``Diagnosis.differs``); without a known mistake the
    likely string is the verified one and nothing is marked, but surrounding whitespace in the
    client-id or request-time header (which the gateway trims) is still pointed out.
    """
    client_id = client_id_header.strip()
    finding = (differs or "").split(":", 1)[0].strip()
    likely_path, likely_client, likely_time, likely_body = path, client_id, request_time, body
    explained = True
    notes = {"path": "", "client": "", "time": "", "body": ""}
    if finding == "path":
        likely_path = other_prefix(path)
        notes["path"] = "signed under the other path prefix (/ams/api vs /ams/sandbox/api)"
    elif finding == "body":
        likely_body = body.rstrip()
        notes["body"] = f"signed without {len(body) - len(body.rstrip())} trailing whitespace character(s)"
    elif finding == "keyVersion":
        pass  # every part matches: the key version in the Signature header is wrong
    else:
        explained = False
        if client_id_header != client_id:
            likely_client = client_id_header
            notes["client"] = "the header carries whitespace around the client ID"
    parts = (
        _part("method and path", f"{method} {path}", f"{method} {likely_path}", notes["path"]),
        _part("client ID", client_id, likely_client, notes["client"]),
        _part("request time", request_time, likely_time, notes["time"]),
        _part("body", body, likely_body, notes["body"]),
    )
    verified_string = f"{method} {path}\n{client_id}.{request_time}.{body}"
    likely_string = f"{method} {likely_path}\n{likely_client}.{likely_time}.{likely_body}"
    if finding == "keyVersion":
        summary = differs or ""
    elif explained:
        summary = "; ".join(p.note for p in parts if p.differs) or (differs or "")
    else:
        summary = differs or "the signature did not verify and no common mistake reproduces it"
    return SignatureComparison(parts, verified_string, likely_string, explained, summary)
