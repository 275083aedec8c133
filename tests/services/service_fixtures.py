"""Session fixtures that start private servers on loopback.

Test modules import them by name after putting this folder on sys.path (see
tests/endpoint/test_remote_services.py). There is deliberately no tests/conftest.py: pytest
would put tests/ itself on sys.path, and tests/ontology/, tests/endpoint/, … (no __init__.py)
would then shadow the real packages as namespace packages.

A missing server binary skips the test with the reason, or fails it when
GONGKAI_REQUIRE_SERVICES=1 (CI installs every service, so a skip there would hide a gap).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

REQUIRE_ENV = "GONGKAI_REQUIRE_SERVICES"


def require_service(name: str, available: bool, reason: str) -> None:
    """Skip (or, with GONGKAI_REQUIRE_SERVICES=1, fail) when service `name` is unavailable."""
    if available:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {name} is unavailable: {reason}", pytrace=False)
    pytest.skip(f"{name} unavailable: {reason}")


@pytest.fixture(scope="session")
def oxigraph_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A running `oxigraph serve` (union default graph) on a free loopback port."""
    from oxigraph_server import OxigraphServer, available

    ok, why = available()
    require_service("Oxigraph server", ok, why)
    server = OxigraphServer(tmp_path_factory.mktemp("oxigraph") / "store").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def virtuoso_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A private Virtuoso (own virtuoso.ini, free ports, random dba password)."""
    from virtuoso_server import VirtuosoServer, available

    ok, why = available()
    require_service("Virtuoso", ok, why)
    server = VirtuosoServer(tmp_path_factory.mktemp("virtuoso")).start()
    try:
        yield server
    finally:
        server.stop()
