"""Answer Telegram commands of linked users (notifications.telegram) until stopped."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from notifications import telegram


class Command(BaseCommand):
    help = "Run Peregrine's Telegram bot: long-poll the Bot API and answer linked chats."

    def handle(self, *args, **options):
        api = telegram.api_from_settings()
        if api is None:
            raise CommandError(
                "PEREGRINE_TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and set "
                "its token (and PEREGRINE_TELEGRAM_BOT_NAME, its @name, shown on the "
                "Notifications page)."
            )
        self.stdout.write(f"Telegram bot answering through {settings.PEREGRINE_TELEGRAM_API_URL}")
        try:
            telegram.run(api)
        except KeyboardInterrupt:
            pass
        finally:
            api.close()
