"""Sending mail over SMTP (the stack's SMTP sink locally, a relay in production).

Services never talk to a mail provider's HTTP API: they speak SMTP to a relay, so the same code
runs against the local sink, a cluster MTA or a provider's SMTP endpoint. Sending runs in a worker
thread (smtplib is blocking) with a timeout; failures raise `MailError` for the caller to decide
(the user service logs and carries on: the user can ask for the mail again).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


class MailError(RuntimeError):
    pass


@dataclass(frozen=True)
class Mailer:
    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0

    def compose(self, *, to: str, subject: str, text: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(text)
        return message

    async def send(self, *, to: str, subject: str, text: str) -> None:
        message = self.compose(to=to, subject=subject, text=text)
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"could not send mail via {self.host}:{self.port}: {exc}") from exc
