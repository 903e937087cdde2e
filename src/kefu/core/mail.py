"""Outgoing email (optional SMTP)."""

from __future__ import annotations

import logging
from email.message import EmailMessage

import aiosmtplib

from kefu.core.config import Settings

log = logging.getLogger("kefu.mail")


def smtp_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


async def send_mail(settings: Settings, *, to: str, subject: str, body: str) -> bool:
    """Send one plain-text message; log and return False on failure (never raise to a request)."""
    if not smtp_configured(settings):
        return False
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    try:
        await aiosmtplib.send(
            msg,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user or None,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            timeout=15,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.warning("could not send mail to user address: %s", type(exc).__name__)
        return False
    return True


def reset_mail(language: str, link: str) -> tuple[str, str]:
    if language == "en":
        return (
            "Reset your Kefu password",
            f"Open this link within 2 hours to choose a new password:\n\n{link}\n\n"
            "If you did not ask for this, ignore this message.",
        )
    return (
        "重置 Kefu 登录密码",
        f"请在 2 小时内打开以下链接设置新密码：\n\n{link}\n\n"
        "如果这不是你本人的操作，请忽略本邮件。",
    )
