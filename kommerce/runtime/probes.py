"""Health probes for supervised components: TCP and HTTP(S) on loopback, never raising."""

from __future__ import annotations

import ssl
import urllib.request

from kommerce.runtime.procs import tcp_open

__all__ = ["http_ok", "tcp_open"]


def http_ok(url: str, *, timeout: float = 3.0, context: ssl.SSLContext | None = None) -> bool:
    """True when GET url answers 2xx within timeout; any error counts as not healthy."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:  # noqa: S310 (URLs we build)  # nosec B310
            return 200 <= int(resp.status) < 300
    except Exception:
        return False
