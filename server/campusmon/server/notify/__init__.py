"""Notifications: ticket events → persistent outbox → channels (webhook, WeCom, DingTalk, email)."""

from .outbox import Dispatcher, Router
from .senders import SENDERS, DeliveryError
from .templates import Message, TicketInfo, render, render_digest

__all__ = [
    "SENDERS",
    "DeliveryError",
    "Dispatcher",
    "Message",
    "Router",
    "TicketInfo",
    "render",
    "render_digest",
]
