"""Developer Center pages: applications, the create wizard, each application's tabs, ISV authorization.

Thin: each handler reads the form, makes one call on ``ApplicationService`` and renders a
template; refusals come back as the service's message on the same page (HTTP 4xx).
"""

from __future__ import annotations

import io
import zipfile
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from ..amounts import MINOR_UNITS
from ..applications.kinds import APPLICATION_TYPES, ROLES
from ..applications.service import (
    PRODUCTS,
    REGIONS,
    ApplicationService,
    NewApplication,
    private_key_files,
)
from ..errors import ControlError
from ..registrations.service import registration_view
from ..runtime import Runtime
from .layout import NavItem, render
from .security import Csrf, PageSession

router = APIRouter(include_in_schema=False)
NAV = [
    NavItem("Developer Center", "Applications", "/"),
    NavItem("Developer Center", "New application", "/applications/new"),
    NavItem("Developer Center", "API reference", "/_emulator/docs"),
]
TABS = [
    ("", "Basic Information"),
    ("/sandbox", "Sandbox resources"),
    ("/integration", "Integration Settings"),
    ("/live", "Live"),
    ("/authorization", "Application Authorization"),
]


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _apps(request: Request) -> ApplicationService:
    return _rt(request).applications()


def _missing(request: Request, exc: ControlError) -> Response:
    return render(
        request,
        "devcenter/missing.html",
        status_code=exc.status_code,
        title="No such application",
        error=exc.message,
    )


def _app_page(
    request: Request, client_id: str, template: str, *, status_code: int = 200, **context: Any
) -> Response:
    apps = _apps(request)
    try:
        app = apps.get(client_id)
    except ControlError as exc:
        return _missing(request, exc)
    context.setdefault("flash", None)
    context.setdefault("error", None)
    return render(
        request,
        template,
        status_code=status_code,
        title=app["name"],
        app=app,
        tabs=TABS,
        base=f"/applications/{app['clientId']}",
        **context,
    )


# -- home and the wizard ----------------------------------------------------------------------


@router.get("/")
def home(request: Request, _s: PageSession) -> Response:
    apps = _apps(request)
    return render(
        request,
        "devcenter/home.html",
        title="Applications",
        applications=apps.all(),
        developer=apps.developer(),
    )


def _wizard(
    request: Request, step: str, values: dict[str, Any], *, error: str | None = None, status_code: int = 200
) -> Response:
    return render(
        request,
        "devcenter/new.html",
        status_code=status_code,
        title="Create an application",
        step=step,
        values=values,
        roles=ROLES,
        types=APPLICATION_TYPES,
        regions=REGIONS,
        products=PRODUCTS,
        currencies=sorted(MINOR_UNITS),
        error=error,
    )


@router.get("/applications/new")
def new_application(request: Request, _s: PageSession) -> Response:
    developer = _apps(request).developer()
    values: dict[str, Any] = {k: "" for k in ("role", "name", "type", "region", "description", "product")}
    values.update(scenarios=[], testCurrency="")
    if developer is None:
        return _wizard(request, "developer", values)
    return _wizard(request, "info", {**values, "role": developer["role"]})


@router.post("/applications/new")
def new_application_step(
    request: Request,
    _s: PageSession,
    _csrf: Csrf,
    step: Annotated[str, Form()],
    role: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    app_type: Annotated[str, Form(alias="type")] = "",
    region: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    product: Annotated[str, Form()] = "",
    scenarios: Annotated[list[str] | None, Form()] = None,
    test_currency: Annotated[str, Form(alias="testCurrency")] = "",
) -> Response:
    apps = _apps(request)
    values: dict[str, Any] = {
        "role": role,
        "name": name,
        "type": app_type,
        "region": region,
        "description": description,
        "product": product,
        "scenarios": scenarios or [],
        "testCurrency": test_currency,
    }
    try:
        if step == "developer":
            apps.become_developer(role)
            return _wizard(request, "info", values)
        if step == "info":
            apps.check_info(role=role, name=name, type=app_type, region=region, description=description)
            return _wizard(request, "product", values)
        created = apps.create(
            NewApplication(
                role=role,
                name=name,
                type=app_type,
                region=region,
                description=description,
                product=product,
                scenarios=scenarios or [],
                test_currency=test_currency,
            )
        )
    except ControlError as exc:
        back = "developer" if step == "developer" else ("info" if step == "info" else "product")
        if step == "product" and exc.message.split(":")[0] in (
            "role",
            "name",
            "type",
            "region",
            "description",
        ):
            back = "info"
        return _wizard(request, back, values, error=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"/applications/{created['clientId']}?created=1", status_code=303)


# -- an application's tabs --------------------------------------------------------------------


@router.get("/applications/{client_id}")
def basic_information(request: Request, client_id: str, _s: PageSession, created: str = "") -> Response:
    flash = "Application created: its sandbox resources are ready." if created else None
    # Merchant registrations of an acquirer or ISV (the template shows them for those roles).
    registrations = [registration_view(r) for r in _rt(request).registrations.list(client_id=client_id)]
    return _app_page(
        request, client_id, "devcenter/basic.html", flash=flash, registrations=registrations, decide=False
    )


@router.post("/applications/{client_id}/delete")
def delete_application(request: Request, client_id: str, _s: PageSession, _csrf: Csrf) -> Response:
    try:
        _apps(request).delete(client_id)
    except ControlError as exc:
        return _app_page(
            request, client_id, "devcenter/basic.html", status_code=exc.status_code, error=exc.message
        )
    return RedirectResponse("/", status_code=303)


@router.get("/applications/{client_id}/sandbox")
def sandbox_resources(request: Request, client_id: str, _s: PageSession) -> Response:
    rt = _rt(request)
    return _app_page(
        request,
        client_id,
        "devcenter/sandbox.html",
        gateway={"http": rt.settings.http_url(), "https": rt.settings.https_url()},
    )


@router.get("/applications/{client_id}/sandbox/keys.zip")
def key_files(request: Request, client_id: str, _s: PageSession) -> Response:
    try:
        view = _apps(request).get(client_id)
    except ControlError as exc:
        return Response(exc.message, status_code=exc.status_code, media_type="text/plain")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in private_key_files(view).items():
            archive.writestr(name, text)
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="TEST-ONLY-{view["clientId"]}-keys.zip"'},
    )


def _integration(request: Request, client_id: str, **context: Any) -> Response:
    rt = _rt(request)
    return _app_page(
        request,
        client_id,
        "devcenter/integration.html",
        gateway={
            "http": rt.settings.http_url(),
            "https": rt.settings.https_url(),
            "python": _python_gateway(rt),
        },
        **context,
    )


def _python_gateway(rt: Runtime) -> str:
    # The Python SDK 1.7.1 always connects to port 443 (DESIGN.md): give it the host only.
    https = rt.settings.https_url() or "https://localhost"
    host = https.split("://", 1)[1].split(":", 1)[0].split("/", 1)[0]
    return f"https://{host}"


@router.get("/applications/{client_id}/integration")
def integration_settings(request: Request, client_id: str, _s: PageSession) -> Response:
    return _integration(request, client_id)


@router.post("/applications/{client_id}/integration/public-key")
def upload_public_key(
    request: Request,
    client_id: str,
    _s: PageSession,
    _csrf: Csrf,
    public_key: Annotated[str, Form(alias="publicKey")] = "",
    key_version: Annotated[str, Form(alias="keyVersion")] = "1",
) -> Response:
    try:
        out = _apps(request).upload_public_key(client_id, public_key=public_key, key_version=key_version)
    except ControlError as exc:
        return _integration(request, client_id, error=exc.message, status_code=exc.status_code)
    notes = "; ".join(out["notes"])
    flash = f"Public key version {out['keyVersion']} uploaded" + (f" ({notes})." if notes else ".")
    return _integration(request, client_id, flash=flash)


@router.post("/applications/{client_id}/integration/notification-url")
def set_notification_url(
    request: Request,
    client_id: str,
    _s: PageSession,
    _csrf: Csrf,
    notification_url: Annotated[str, Form(alias="notificationUrl")] = "",
) -> Response:
    try:
        out = _apps(request).update(client_id, {"notificationUrl": notification_url})
    except ControlError as exc:
        return _integration(request, client_id, error=exc.message, status_code=exc.status_code)
    if out["pendingConfirmation"]:
        flash = "The new notification URL waits for your confirmation on the Live tab."
    else:
        flash = "Notification URL saved." if out["notificationUrl"] else "Notification URL cleared."
    return _integration(request, client_id, flash=flash)


def _live(request: Request, client_id: str, **context: Any) -> Response:
    apps = _apps(request)
    try:
        reasons = apps.launch_reasons(client_id)
    except ControlError:
        reasons = []
    return _app_page(request, client_id, "devcenter/live.html", reasons=reasons, **context)


@router.get("/applications/{client_id}/live")
def live(request: Request, client_id: str, _s: PageSession) -> Response:
    return _live(request, client_id)


@router.post("/applications/{client_id}/live/public-key")
def live_public_key(
    request: Request,
    client_id: str,
    _s: PageSession,
    _csrf: Csrf,
    public_key: Annotated[str, Form(alias="publicKey")] = "",
) -> Response:
    try:
        out = _apps(request).set_live_public_key(client_id, public_key=public_key)
    except ControlError as exc:
        return _live(request, client_id, error=exc.message, status_code=exc.status_code)
    if out["pendingConfirmation"]:
        flash = "The new live public key waits for your confirmation below."
    else:
        flash = "Live public key saved" + (f" ({'; '.join(out['notes'])})." if out["notes"] else ".")
    return _live(request, client_id, flash=flash)


@router.post("/applications/{client_id}/live/launch")
def launch(
    request: Request,
    client_id: str,
    _s: PageSession,
    _csrf: Csrf,
    force: Annotated[str, Form()] = "",
) -> Response:
    try:
        out = _apps(request).launch(client_id, force=bool(force))
    except ControlError as exc:
        return _live(request, client_id, error=exc.message, status_code=exc.status_code)
    return _live(
        request,
        client_id,
        flash=f"Launched: the production client ID is {out['live']['productionClientId']}.",
    )


@router.post("/applications/{client_id}/live/confirm")
def confirm(request: Request, client_id: str, _s: PageSession, _csrf: Csrf) -> Response:
    try:
        _apps(request).confirm(client_id)
    except ControlError as exc:
        return _live(request, client_id, error=exc.message, status_code=exc.status_code)
    return _live(request, client_id, flash="Change confirmed and applied.")


def _authorization(request: Request, client_id: str, **context: Any) -> Response:
    apps = _apps(request)
    try:
        tokens = apps.authorizations(client_id)
    except ControlError:
        tokens = []
    context.setdefault("authorization_url", None)
    return _app_page(request, client_id, "devcenter/authorization.html", tokens=tokens, **context)


@router.get("/applications/{client_id}/authorization")
def authorization(request: Request, client_id: str, _s: PageSession) -> Response:
    return _authorization(request, client_id)


@router.post("/applications/{client_id}/authorization/url")
def authorization_url(request: Request, client_id: str, _s: PageSession, _csrf: Csrf) -> Response:
    try:
        out = _apps(request).authorization_url(client_id)
    except ControlError as exc:
        return _authorization(request, client_id, error=exc.message, status_code=exc.status_code)
    return _authorization(request, client_id, authorization_url=out["authorizationUrl"])


@router.post("/applications/{client_id}/authorization/revoke")
def revoke(
    request: Request,
    client_id: str,
    _s: PageSession,
    _csrf: Csrf,
    token: Annotated[str, Form(alias="agentToken")] = "",
) -> Response:
    try:
        _apps(request).revoke(client_id, token)
    except ControlError as exc:
        return _authorization(request, client_id, error=exc.message, status_code=exc.status_code)
    return _authorization(
        request, client_id, flash="Authorization revoked: calls with that token now get ACCESS_DENIED."
    )


# -- the merchant's side of ISV authorization (no admin session: the merchant signs in) -------


def _authorize_page(request: Request, isv_client_id: str, **context: Any) -> Response:
    try:
        isv = _apps(request).get(isv_client_id)
    except ControlError as exc:
        return _missing(request, exc)
    context.setdefault("issued", None)
    context.setdefault("flash", None)
    context.setdefault("error", None)
    context.setdefault("account", "")
    return render(
        request,
        "devcenter/authorize.html",
        title=f"Authorize {isv['name']}",
        isv=isv,
        isv_client_id=isv_client_id,
        **context,
    )


@router.get("/_emulator/isv/{isv_client_id}/authorize")
def authorize_page(request: Request, isv_client_id: str, _s: PageSession) -> Response:
    return _authorize_page(request, isv_client_id)


@router.post("/_emulator/isv/{isv_client_id}/authorize")
def authorize_submit(
    request: Request,
    isv_client_id: str,
    _s: PageSession,
    _csrf: Csrf,
    merchant_account: Annotated[str, Form(alias="merchantAccount")] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    try:
        token = _apps(request).authorize(isv_client_id, merchant_account=merchant_account, password=password)
    except ControlError as exc:
        return _authorize_page(
            request, isv_client_id, error=exc.message, status_code=exc.status_code, account=merchant_account
        )
    return _authorize_page(request, isv_client_id, issued=token, flash="Authorized.")


# -- the control API's reference, rendered here (no Swagger UI from a CDN: works offline) -----


def _schema_name(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " | ".join(_schema_name(s) for s in schema[key] if s.get("type") != "null")
    if schema.get("type") == "array":
        return f"list of {_schema_name(schema.get('items'))}"
    return str(schema.get("type", ""))


@router.get("/_emulator/docs")
def api_reference(request: Request, _s: PageSession) -> Response:
    spec = request.app.openapi()
    operations = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "tag": (op.get("tags") or ["other"])[0],
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": _schema_name(p.get("schema")),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": _schema_name(body),
                }
            )
    schemas = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        schemas.append(
            {
                "name": name,
                "fields": [
                    {"name": f, "type": _schema_name(s), "required": f in required}
                    for f, s in schema.get("properties", {}).items()
                ],
            }
        )
    return render(
        request,
        "devcenter/docs.html",
        title="Control API reference",
        operations=operations,
        schemas=schemas,
        version=spec.get("info", {}).get("version", ""),
    )
