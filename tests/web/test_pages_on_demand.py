"""Pages routed on demand (issue #15): start-up imports no page module; the first page request does."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI

from emulator.web.ondemand import PagesOnDemand

ROOT = Path(__file__).resolve().parents[2]


def test_a_fresh_app_answers_the_api_before_importing_any_page(tmp_path: Path) -> None:
    # A process of its own: other tests have imported the page modules into this one.
    script = textwrap.dedent(
        f"""
        import sys
        from fastapi.testclient import TestClient
        from emulator.app import create_app
        from emulator.settings import Settings

        PAGES = ("emulator.web.devcenter", "emulator.console.pages", "emulator.acceptance.pages")
        app = create_app(Settings(data_dir={str(tmp_path / "data")!r}, tls_port=0, sftp_port=0))
        with TestClient(app, follow_redirects=False) as http:
            assert http.get("/_emulator/health").status_code == 200
            assert http.get("/_emulator/sandbox").status_code == 200
            assert http.post("/_emulator/reset").status_code == 200
            assert [m for m in PAGES if m in sys.modules] == []
            page = http.get("/")
            assert page.status_code == 200 and "Console" in page.text, page.text
            assert [m for m in PAGES if m not in sys.modules] == []
            assert http.get("/console").status_code == 303
            assert http.get("/no-such-page").status_code == 404
            assert http.get("/_emulator/reset").status_code == 405
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_concurrent_first_requests_load_the_pages_once() -> None:
    loads: list[int] = []

    def load() -> APIRouter:
        loads.append(1)
        router = APIRouter()

        @router.get("/page")
        def page() -> dict[str, str]:
            return {"page": "yes"}

        return router

    def install(app: FastAPI, router: APIRouter) -> None:
        app.include_router(router)

    app = FastAPI()

    @app.get("/api")
    def api() -> dict[str, str]:
        return {"api": "yes"}

    app.router.routes.append(PagesOnDemand(app, load, install))

    async def scenario() -> list[tuple[int, str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            api_first = await client.get("/api")
            assert api_first.json() == {"api": "yes"} and loads == []
            answers = await asyncio.gather(*(client.get(p) for p in ["/page"] * 4 + ["/other"]))
            return [(r.status_code, r.text) for r in answers]

    answers = asyncio.run(scenario())
    assert loads == [1]
    assert answers[:4] == [(200, '{"page":"yes"}')] * 4
    assert answers[4][0] == 404
