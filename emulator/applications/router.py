"""Control API of the Developer Center: ``/_emulator/applications`` and the ISV authorizations (thin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import Field

from ..control.router import PREFIX, CamelModel, RuntimeDep, require_admin
from .service import ApplicationService, NewApplication

router = APIRouter(prefix=PREFIX, tags=["applications"], dependencies=[Depends(require_admin)])


def service(rt: RuntimeDep) -> ApplicationService:
    return rt.applications()


Apps = Annotated[ApplicationService, Depends(service)]


class ApplicationIn(CamelModel):
    role: str
    name: str
    type: str
    region: str
    description: str = ""
    product: str
    scenarios: list[str]
    test_currency: str
    notification_url: str | None = None


class ApplicationPatch(CamelModel):
    name: str | None = None
    type: str | None = None
    description: str | None = None
    scenarios: list[str] | None = None
    notification_url: str | None = None
    # Accepted only to be refused with a message that says what to do instead.
    role: Any = None
    region: Any = None
    product: Any = None
    test_currency: Any = None


class PublicKeyIn(CamelModel):
    public_key: str = Field(min_length=1)
    key_version: str = "1"


class LivePublicKeyIn(CamelModel):
    public_key: str = Field(min_length=1)


class LaunchIn(CamelModel):
    force: bool = False


class MerchantSignIn(CamelModel):
    merchant_account: str = Field(min_length=1)
    password: str


class DeveloperIn(CamelModel):
    role: str


@router.get("/developer")
def get_developer(apps: Apps) -> dict[str, Any]:
    return {"developer": apps.developer()}


@router.post("/developer")
def become_developer(body: DeveloperIn, apps: Apps) -> dict[str, Any]:
    return {"developer": apps.become_developer(body.role)}


@router.post("/applications", status_code=201)
def create_application(body: ApplicationIn, apps: Apps) -> dict[str, Any]:
    return apps.create(NewApplication(**body.model_dump()))


@router.get("/applications")
def list_applications(apps: Apps) -> dict[str, Any]:
    return {"applications": apps.all()}


@router.get("/applications/{client_id}")
def get_application(client_id: str, apps: Apps) -> dict[str, Any]:
    return apps.get(client_id)


@router.patch("/applications/{client_id}")
def update_application(client_id: str, body: ApplicationPatch, apps: Apps) -> dict[str, Any]:
    return apps.update(client_id, body.model_dump(exclude_unset=True, by_alias=True))


@router.delete("/applications/{client_id}")
def delete_application(client_id: str, apps: Apps) -> dict[str, Any]:
    return apps.delete(client_id)


@router.put("/applications/{client_id}/public-key")
def put_public_key(client_id: str, body: PublicKeyIn, apps: Apps) -> dict[str, Any]:
    return apps.upload_public_key(client_id, public_key=body.public_key, key_version=body.key_version)


@router.put("/applications/{client_id}/live/public-key")
def put_live_public_key(client_id: str, body: LivePublicKeyIn, apps: Apps) -> dict[str, Any]:
    return apps.set_live_public_key(client_id, public_key=body.public_key)


@router.get("/applications/{client_id}/launch-check")
def launch_check(client_id: str, apps: Apps) -> dict[str, Any]:
    reasons = apps.launch_reasons(client_id)
    return {"clientId": client_id, "ready": not reasons, "reasons": reasons}


@router.post("/applications/{client_id}/launch")
def launch(client_id: str, apps: Apps, body: LaunchIn | None = None) -> dict[str, Any]:
    return apps.launch(client_id, force=(body or LaunchIn()).force)


@router.post("/applications/{client_id}/live/confirm")
def confirm(client_id: str, apps: Apps) -> dict[str, Any]:
    return apps.confirm(client_id)


@router.post("/applications/{client_id}/authorization-url")
def authorization_url(client_id: str, apps: Apps) -> dict[str, Any]:
    return apps.authorization_url(client_id)


@router.get("/applications/{client_id}/authorizations")
def authorizations(client_id: str, apps: Apps) -> dict[str, Any]:
    return {"authorizations": apps.authorizations(client_id)}


@router.post("/applications/{client_id}/authorizations", status_code=201)
def authorize(client_id: str, body: MerchantSignIn, apps: Apps) -> JSONResponse:
    view = apps.authorize(client_id, merchant_account=body.merchant_account, password=body.password)
    return JSONResponse(view, status_code=201)


@router.delete("/applications/{client_id}/authorizations/{token}")
def revoke(client_id: str, token: str, apps: Apps) -> dict[str, Any]:
    return apps.revoke(client_id, token)
