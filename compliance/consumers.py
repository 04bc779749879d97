"""A tax export's page over a websocket (`ws/tax/exports/<id>/`): the worker's progress as it
writes the file, then the download button (compliance.tax.exports publishes the events).

Only the export's owner, signed in and past the OTP step, is accepted; anyone else is refused
at the handshake (HTTP 403). On connect the page gets the export's current state at once (an
export that moved or ended before the socket opened is never missed), then one fragment per
event of the export's group, as {"kind": "tax_export", "status", "html"}. No writes.
"""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.template.loader import render_to_string

from config.consumers import authenticated_user

logger = logging.getLogger(__name__)


@database_sync_to_async
def _export_event(user, export_id: int) -> dict | None:
    from compliance.tax.exports import export_event
    from compliance.tax_models import TaxExport

    export = TaxExport.objects.filter(pk=export_id, user_id=user.pk).first()
    return export_event(export) if export is not None else None


def status_message(event: dict) -> dict:
    """The socket's message for an export event: the status fragment, rendered."""
    html = render_to_string("compliance/_tax_export_status.html", {"event": event})
    return {"kind": "tax_export", "export_id": event["export_id"], "status": event["status"],
            "html": html}  # fmt: skip


class TaxExportLiveConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self):
        from compliance.tax.exports import tax_export_group

        user = await authenticated_user(self.scope)
        self.export_id = int(self.scope["url_route"]["kwargs"]["export_id"])
        event = await _export_event(user, self.export_id) if user is not None else None
        if event is None:
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self.group = tax_export_group(self.export_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(await database_sync_to_async(status_message)(event))

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        """The page sends nothing the server acts on."""

    async def event_forward(self, message):
        event = message.get("event") or {}
        if event.get("kind") != "tax_export" or event.get("export_id") != self.export_id:
            return
        try:
            reply = await database_sync_to_async(status_message)(event)
        except Exception:  # a render failure must not end the connection
            logger.exception("tax export %s: live update not rendered", self.export_id)
            return
        await self.send_json(reply)
