"""The signed-in user's event stream: joins `user.<id>` and forwards already-rendered events."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


@database_sync_to_async
def _second_factor_satisfied(user, session) -> bool:
    from accounts.security import second_factor_satisfied

    return second_factor_satisfied(user, session)


async def authenticated_user(scope):
    """The scope's user when signed in and past the OTP step (if they need one), else None.

    Every consumer calls this first: a session that has only passed the password step must not
    receive live data, exactly as HTTP pages are gated by the second-factor middleware.
    """
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return None
    if not await _second_factor_satisfied(user, scope.get("session")):
        return None
    return user


class UserEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = await authenticated_user(self.scope)
        if user is None:
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def event_forward(self, event):
        """Group message {"type": "event.forward", "event": {...}} goes to the browser as is."""
        await self.send_json(event["event"])
