"""The buyer's sign-in on the console's wallet pages: a cookie apart from the admin session.

Stateless like the admin session (every process of one sandbox accepts it): the cookie carries
the buyer's loginId and an HMAC keyed by the buyer's sandbox password, so changing or resetting
the password signs the buyer out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

BUYER_COOKIE = "alipay_emulator_buyer"


def buyer_cookie(login_id: str, password: str) -> str:
    mac = hmac.new(password.encode(), f"buyer session {login_id}".encode(), hashlib.sha256).hexdigest()
    name = base64.urlsafe_b64encode(login_id.encode()).decode().rstrip("=")
    return f"{name}.{mac}"


def cookie_login_id(cookie: str | None) -> str | None:
    """The loginId the cookie claims (check it with ``valid_buyer_cookie``)."""
    if not cookie or "." not in cookie:
        return None
    name = cookie.split(".", 1)[0]
    try:
        return base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def valid_buyer_cookie(cookie: str | None, *, login_id: str, password: str) -> bool:
    return cookie is not None and hmac.compare_digest(cookie, buyer_cookie(login_id, password))
