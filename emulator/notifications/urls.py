"""Which notification URLs ``pay`` and ``refund`` accept (checked before anything is stored).

Control characters (CR, LF, ...) would never make a valid request line: refused at once rather
than left PENDING. Link-local and cloud-metadata addresses are refused by default so a sandbox
cannot be turned into a probe of its host's metadata service; a setting allows them. Names are
not resolved (the emulator is offline by design): only literal addresses are checked.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

from ..errors import ParamIllegal

# AWS's IPv6 metadata endpoint; the IPv4 ones (169.254.169.254, ...) are link-local already.
_METADATA = {ipaddress.ip_address("fd00:ec2::254")}
_METADATA_NAMES = {"metadata.google.internal", "metadata.goog"}


@lru_cache(maxsize=1024)  # a pure function of its arguments; a merchant sends the same URL each time
def notify_url_problem(url: str, *, allow_link_local: bool) -> str | None:
    """Why ``url`` cannot receive notifications, or None."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "must not contain control characters (CR, LF, tab, ...)"
    if not url.startswith(("http://", "https://")):
        return "must be an http(s) URL"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "is not a valid URL"
    if not host:
        return "has no host"
    if allow_link_local:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if host.lower().rstrip(".") in _METADATA_NAMES or (
        address is not None and (address.is_link_local or address in _METADATA)
    ):
        return (
            "points at a link-local or cloud-metadata address "
            "(ALIPAY_EMULATOR_NOTIFY_ALLOW_LINK_LOCAL=true allows it)"
        )
    return None


def check_notify_url(field: str, url: str | None, *, allow_link_local: bool) -> None:
    """Raise PARAM_ILLEGAL naming ``field`` when ``url`` cannot receive notifications."""
    if url is None:
        return
    problem = notify_url_problem(url, allow_link_local=allow_link_local)
    if problem is not None:
        raise ParamIllegal(field, problem)
