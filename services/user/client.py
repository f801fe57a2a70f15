"""Who is on the other end of a request: IP address and user agent, for audit and rate limits."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request


@dataclass(frozen=True)
class ClientInfo:
    ip: str
    user_agent: str

    @property
    def device(self) -> str:
        """A short human description of the device ("Firefox on Linux")."""
        ua = self.user_agent
        browser = next(
            (
                name
                for token, name in (
                    ("Edg/", "Edge"),
                    ("OPR/", "Opera"),
                    ("Firefox/", "Firefox"),
                    ("Chrome/", "Chrome"),
                    ("Safari/", "Safari"),
                    ("curl/", "curl"),
                    ("python-httpx", "httpx"),
                )
                if token in ua
            ),
            "Unknown browser",
        )
        system = next(
            (
                name
                for token, name in (
                    ("Android", "Android"),
                    ("iPhone", "iOS"),
                    ("iPad", "iPadOS"),
                    ("Windows", "Windows"),
                    ("Mac OS X", "macOS"),
                    ("Linux", "Linux"),
                )
                if token in ua
            ),
            "unknown system",
        )
        return f"{browser} on {system}"


def client_info(request: Request, *, trust_forwarded_for: bool = False) -> ClientInfo:
    ip = request.client.host if request.client else ""
    if trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            ip = hops[-1]  # the address our ingress saw; earlier hops are client-supplied
    return ClientInfo(ip=ip, user_agent=request.headers.get("user-agent", "")[:512])
