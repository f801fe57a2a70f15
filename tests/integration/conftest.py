"""Integration-tier fixtures shared by every service's tests."""

from __future__ import annotations

import pytest

from tests.tokens import TokenMinter


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    """Schemathesis 4.32's lazy schemas read `item._nodeid`, which pytest 9.2 no longer has."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture(scope="session")
def minter() -> TokenMinter:
    """Signs access tokens as the user service does; services under test trust it."""
    return TokenMinter()
