"""What a CLI command works on: a running emulator (its control API) or the data directory.

Every command that reads or changes the sandbox goes through a ``Target``: ``RemoteTarget``
talks to ``--url`` / ``ALIPAY_EMULATOR_URL`` (with the admin token), so it works against a
container; ``LocalTarget`` opens the data directory's database itself, with no server running.
Both call the same service functions (remotely through the control API), and answer the same
JSON shapes, so a command does not care which one it has.
"""

from __future__ import annotations

from datetime import date
from types import TracebackType
from typing import Any, Protocol

from .settings import Settings

URL_ENV = "ALIPAY_EMULATOR_URL"
TOKEN_ENV = "ALIPAY_EMULATOR_ADMIN_TOKEN"


class TargetError(Exception):
    """A command could not be carried out; ``exit_code`` 2 for set-up problems, 1 otherwise."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class Target(Protocol):
    description: str

    def sandbox(self) -> dict[str, Any]: ...

    def payment_code(self, login_id: str) -> dict[str, Any]: ...

    def reconcile(self, day: date, client_id: str | None) -> dict[str, Any]: ...

    def close(self) -> None: ...


class RemoteTarget:
    """A running emulator, through its control API."""

    def __init__(self, url: str, *, admin_token: str | None, timeout: float = 30.0) -> None:
        from .testing import EmulatorClient

        self.url = url.rstrip("/")
        self.description = f"the emulator at {self.url}"
        self._client = EmulatorClient(self.url, admin_token=admin_token, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        from .testing import ControlApiError

        try:
            result: dict[str, Any] = self._client._call(method, path, **kwargs)
        except ControlApiError as exc:
            hint = " (set ALIPAY_EMULATOR_ADMIN_TOKEN or --admin-token)" if exc.status_code == 401 else ""
            raise TargetError(f"{self.description} answered {exc.status_code}: {exc.message}{hint}") from exc
        except httpx.HTTPError as exc:
            raise TargetError(
                f"cannot reach {self.description} ({URL_ENV} / --url): {exc}", exit_code=2
            ) from exc
        return result

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def sandbox(self) -> dict[str, Any]:
        return self._call("GET", "/sandbox")

    def payment_code(self, login_id: str) -> dict[str, Any]:
        out = self._call("POST", f"/buyers/{login_id}/payment-codes")
        return {"paymentCode": out["paymentCode"], "expiresAt": out["expiresAt"]}

    def reconcile(self, day: date, client_id: str | None) -> dict[str, Any]:
        body: dict[str, str] = {"date": day.isoformat()}
        if client_id is not None:
            body["clientId"] = client_id
        return self._call("POST", "/reconciliation/run", json=body)

    def close(self) -> None:
        self._client.close()


class LocalTarget:
    """The data directory (and database) of ``settings``, opened in this process."""

    def __init__(self, settings: Settings) -> None:
        from .app import wire
        from .runtime import build_runtime

        self.settings = settings
        self.description = f"the data directory {settings.data_dir}"
        self._rt = wire(build_runtime(settings))

    def sandbox(self) -> dict[str, Any]:
        return self._rt.resources()

    def payment_code(self, login_id: str) -> dict[str, Any]:
        from .clock import iso
        from .errors import ControlError
        from .wallet.service import issue_payment_code

        try:
            with self._rt.db.write() as session:
                code = issue_payment_code(
                    session,
                    login_id=login_id,
                    now=self._rt.clock.now(),
                    ttl_seconds=self.settings.payment_code_ttl_seconds,
                )
        except ControlError as exc:
            raise TargetError(exc.message) from exc
        return {"paymentCode": code.code, "expiresAt": iso(code.expires_at)}

    def reconcile(self, day: date, client_id: str | None) -> dict[str, Any]:
        from .errors import ControlError
        from .reconciliation.install import install as install_reconciliation

        try:
            reports = install_reconciliation(self._rt)
        except ValueError as exc:  # a settlement currency without an FX quote
            raise TargetError(str(exc), exit_code=2) from exc
        try:
            return reports.run(day=day, client_id=client_id).public()
        except ControlError as exc:
            raise TargetError(exc.message) from exc

    def close(self) -> None:
        self._rt.close()


class _Opened:
    def __init__(self, target: Target) -> None:
        self.target = target

    def __enter__(self) -> Target:
        return self.target

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.target.close()


def open_target(*, url: str | None, admin_token: str | None, settings: Settings) -> _Opened:
    """The running emulator at ``url`` when given, else the data directory of ``settings``."""
    if url:
        return _Opened(RemoteTarget(url, admin_token=admin_token))
    return _Opened(LocalTarget(settings))
