"""A live emulator with its SFTP drop on, driven by the official SDK (one per backend)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import pytest

from ..conftest import BACKENDS, Live, running
from ..support import EmulatorProcess, free_port, postgres_database


@pytest.fixture(scope="session", params=BACKENDS)
def drop_live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    backend: str = request.param
    database: Any = postgres_database() if backend == "postgres" else nullcontext(None)
    with database as url:
        process = EmulatorProcess(
            tmp_path_factory.mktemp(f"drop-{backend}") / "data",
            database_url=url,
            sftp_port=free_port(),
        )
        with running(process, backend=backend) as live:
            yield live


@pytest.fixture
def drop(drop_live: Live) -> Live:
    """The live emulator with SFTP, reset to the seeded sandbox before the test."""
    drop_live.control.reset()
    return drop_live


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the test's data directory), or a fresh PostgreSQL database."""
    if request.param == "postgres":
        with postgres_database() as url:
            yield url
    else:
        yield None
