"""An SMTP sink for local development and tests: accepts every message, stores it as a file.

Real mail providers cannot be reached from the build machines; services still speak real SMTP,
and this sink (aiosmtpd) writes each message into a maildir-like folder as `<time>-<id>.eml`
so a test (or a person) can read exactly what was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        maildir.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.maildir / f".{name}"
        header = f"X-Kommerce-Envelope-From: {envelope.mail_from}\r\n"
        header += f"X-Kommerce-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        tmp.write_bytes(header.encode() + envelope.original_content)
        tmp.rename(self.maildir / name)  # readers never see a half-written message
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    controller = Controller(MaildirHandler(args.maildir), hostname=args.host, port=args.port)
    controller.start()
    print(f"smtp sink listening on {args.host}:{args.port}, writing to {args.maildir}", flush=True)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()
