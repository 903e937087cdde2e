"""The leave-message button of the waiting reminder (§7) now lives with the leave messages
(§11.1, `kefu.leave_messages`); this name stays for older imports."""

from __future__ import annotations

from kefu.leave_messages.actions import leave_message

__all__ = ["leave_message"]
