"""A typed Python client for the control API, for users' test suites and ours.

from emulator.testing import EmulatorClient
emu = EmulatorClient("http://localhost:8080")
code = emu.payment_code(emu.sandbox()["buyers"][0]["loginId"])
emu.advance_clock(seconds=61)   # the code has expired now
"""

from __future__ import annotations

from typing import Any

import httpx


class ControlApiError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message


class EmulatorClient:
    def __init__(
        self, base_url: str, *, admin_token: str | None = None, timeout: float = 30.0
    ) -> None:
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"/_emulator{path}", **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("error") or response.text
            except ValueError:
                message = response.text
            raise ControlApiError(response.status_code, str(message))
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    # -- sandbox ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def sandbox(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/sandbox")
        return result

    def ca_pem(self) -> str:
        return str(self._call("GET", "/ca.pem"))

    def reset(self, *, client_id: str | None = None) -> dict[str, Any]:
        params = {"clientId": client_id} if client_id else None
        result: dict[str, Any] = self._call("POST", "/reset", params=params)
        return result

    def payment_code(self, login_id: str) -> str:
        return str(self._call("POST", f"/buyers/{login_id}/payment-codes")["paymentCode"])

    def put_public_key(
        self, client_id: str, public_key: str, *, key_version: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, str] = {"publicKey": public_key}
        if key_version is not None:
            body["keyVersion"] = key_version
        result: dict[str, Any] = self._call(
            "PUT", f"/applications/{client_id}/public-key", json=body
        )
        return result

    # -- clock -----------------------------------------------------------------------------

    def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/clock")
        return result

    def advance_clock(self, *, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock", json={"advanceSeconds": seconds})
        return result

    def set_clock(self, now: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock", json={"now": now})
        return result

    def freeze_clock(self, frozen: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/clock", json={"frozen": frozen})
        return result

    # -- journal ---------------------------------------------------------------------------

    def requests(
        self,
        *,
        client_id: str | None = None,
        path: str | None = None,
        result_code: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if client_id:
            params["clientId"] = client_id
        if path:
            params["path"] = path
        if result_code:
            params["resultCode"] = result_code
        entries: list[dict[str, Any]] = self._call("GET", "/requests", params=params)["requests"]
        return entries
