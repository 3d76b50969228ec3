"""Who a gateway call acts for: the calling application or, for ISVs, the merchant its token names."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AccessDenied
from .directory import AppInfo, Directory


@dataclass(frozen=True, slots=True)
class Merchant:
    client_id: str
    customer_id: str
    currency: str
    agent_token: str | None = None
    # The calling application's settlement currency ("" = the transaction currency) and its
    # Integration Settings notification URL (issue #12: the pay falls back to it).
    settlement_currency: str = ""
    notification_url: str | None = None


def acting_merchant(directory: Directory, app: AppInfo, agent_token: str) -> Merchant:
    """Apply the ``Agent-Token`` rules; an empty header counts as absent (spec §8 item 5)."""
    token = agent_token.strip()
    if app.role != "ISV":
        if token:
            raise AccessDenied(diagnosis="Agent-Token is only accepted from ISV applications")
        return Merchant(
            app.client_id,
            app.customer_id,
            app.test_currency,
            settlement_currency=app.settlement_currency,
            notification_url=app.notification_url,
        )
    if not token:
        raise AccessDenied(diagnosis="an ISV application must send the Agent-Token of a merchant")
    row = directory.agent_token(token)
    if row is None or row.isv_client_id != app.client_id:
        raise AccessDenied(diagnosis="the Agent-Token was not issued to this ISV application")
    if row.revoked:
        raise AccessDenied(diagnosis="the Agent-Token has been revoked")
    return Merchant(
        app.client_id,
        row.merchant_customer_id,
        app.test_currency,
        token,
        settlement_currency=app.settlement_currency,
        notification_url=app.notification_url,
    )
