"""What the container docs promise is what .ci/container-test runs and measures (#14 item 9).

Docker is not available to the test suite; ``.ci/container-test`` runs these commands for real.
"""

from __future__ import annotations

import re

from .support import REPO

README = (REPO / "README.md").read_text()
CONTAINERS = (REPO / "docs" / "containers.md").read_text()
CONTAINER_TEST = (REPO / ".ci" / "container-test").read_text()


def test_the_example_client_can_run_without_stopping_the_emulator() -> None:
    for text in (README, CONTAINERS):
        assert "docker compose --profile example run --rm example-client" in text
        assert "docker-compose --profile example run --rm example-client" in text  # Compose v1
    assert '"${COMPOSE[@]}" run --rm example-client' in CONTAINER_TEST
    assert "the emulator is not running after docker-compose run --rm example-client" in CONTAINER_TEST


def test_compose_v1_is_shown_beside_v2() -> None:
    assert "docker-compose up -d --build" in README and "docker-compose down -v" in README
    assert "docker-compose up -d --build" in CONTAINERS and "docker-compose down -v" in CONTAINERS


def test_the_healthy_figure_is_stated_with_its_conditions_and_still_measured() -> None:
    assert "about 1.5 s" not in README
    # A measured figure (the latest container-test run), not a round guess.
    assert re.search(r"\d+\.\d\d s from\n`docker run` to `/_emulator/health`", README)
    assert re.search(r"\d+\.\d\d s to `docker inspect`", README)
    for condition in ("fresh data volume", "SQLite", "2-core machine", "image already built"):
        assert condition in README
    assert "HEALTHY_S=$(elapsed" in CONTAINER_TEST and "READY_S=$(elapsed" in CONTAINER_TEST


def test_the_scale_block_is_run_by_the_container_test_with_its_public_images_provided() -> None:
    import yaml

    lines = README.splitlines()
    start = next(
        i for i, line in enumerate(lines) if "--profile scale up" in line and not line.startswith("`")
    )
    fence = max(i for i in range(start) if lines[i].startswith("```"))
    assert lines[fence - 1] == "<!-- docs: covered .ci/container-test -->"
    block = lines[fence + 1 : next(i for i in range(start, len(lines)) if lines[i] == "```")]
    # The container test runs the block's lines as written, its `down` last (it must have one).
    assert any(re.match(r"docker compose .* down( |$)", line) for line in block)
    assert "--profile scale up" in CONTAINER_TEST and "container-standin-image" in CONTAINER_TEST
    # Every image the profile pulls rather than builds can be made here without a registry.
    standin = (REPO / ".ci" / "container-standin-image").read_text()
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    pulled = [s["image"] for s in services.values() if "scale" in s.get("profiles", []) and "build" not in s]
    assert sorted(pulled) == ["nginx:1.27-alpine", "postgres:16-alpine"]
    for image in pulled:
        kind = image.split(":")[0]
        assert f"  {kind}:*)" in standin
        assert (REPO / ".ci" / "standins" / kind / "Dockerfile").is_file()
