"""The admin-token check shared by the control API and the pages (no FastAPI here).

With ``ALIPAY_EMULATOR_ADMIN_TOKEN`` set, a request is authorized by ``Authorization: Bearer
<token>`` or by the page session cookie, whose value is an HMAC of the token (so the cookie
never holds the token itself, and changing the token logs every browser out). A change made
with the cookie alone must come from the emulator's own pages (same origin): cookies are sent
by browsers on cross-site form posts too, headers are not.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

SESSION_COOKIE = "alipay_emulator_session"
_LABEL = b"alipay-emulator admin session v1"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_value(admin_token: str) -> str:
    """The session cookie's value for ``admin_token``: HMAC-SHA256(key=token, label), hex."""
    return hmac.new(admin_token.encode("utf-8"), _LABEL, hashlib.sha256).hexdigest()


def bearer_ok(admin_token: str, authorization_header: str | None) -> bool:
    scheme, _, given = (authorization_header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8"), admin_token.encode("utf-8")
    )


def cookie_ok(admin_token: str, cookie_value: str | None) -> bool:
    return bool(cookie_value) and hmac.compare_digest(
        (cookie_value or "").encode("utf-8"), session_value(admin_token).encode("utf-8")
    )


def is_authorized(
    admin_token: str | None, authorization_header: str | None, cookie_value: str | None
) -> bool:
    """True when no token is configured, or the Bearer header or the session cookie matches it."""
    if not admin_token:
        return True
    return bearer_ok(admin_token, authorization_header) or cookie_ok(admin_token, cookie_value)


def same_origin(*, method: str, host: str | None, origin: str | None, referer: str | None) -> bool:
    """For a cookie-authorized request: a change (POST, ...) must come from this host's pages.

    Browsers send ``Origin`` on every cross-origin POST (and ``Referer`` usually); a request that
    carries neither is not a browser's cross-site form post.
    """
    if method.upper() in _SAFE_METHODS:
        return True
    source = origin if origin and origin != "null" else referer
    if origin == "null":
        return False
    if not source:
        return True
    return bool(host) and urlsplit(source).netloc.lower() == (host or "").lower()
