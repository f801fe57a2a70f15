"""stripe-mock from the test stack, alone: these suites need no other server.

`stripe_api_base` starts only the `stripe-mock` component of the stack (the same components
and state directory `stack_env` uses, so a session that also needs the whole stack shares it)
and stops it at the end if it started it (unless `KOMMERCE_TEST_KEEP=1`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from services.payment.providers.stripe import StripeProvider

API_KEY = "sk_test_123"  # nosec B105 - stripe-mock accepts any test key


@pytest.fixture(scope="session")
def stripe_api_base(isolated_env: None) -> Iterator[str]:
    from kommerce.runtime import orchestrate
    from kommerce.stack import config
    from kommerce.stack.servers import servers

    wanted = orchestrate.select(servers(), ["stripe-mock"])
    started = orchestrate.up(wanted, say=print, what="stripe-mock")
    yield config.environment()["KOMMERCE_STRIPE_API_BASE"]
    if os.environ.get("KOMMERCE_TEST_KEEP") != "1":
        orchestrate.down([s for s in wanted if s.name in started], say=print, what="stripe-mock")


@pytest.fixture
async def stripe_provider(stripe_api_base: str) -> AsyncIterator[StripeProvider]:
    provider = StripeProvider(API_KEY, api_base=stripe_api_base, timeout=10.0)
    yield provider
    await provider.aclose()
