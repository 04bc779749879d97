"""Telegram control against a local Bot API server that speaks Telegram's HTTP API: the bot
long-polls getUpdates and answers with sendMessage, as it does against api.telegram.org."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from compliance.models import AuditEvent
from notifications import telegram
from notifications.models import TelegramLink
from trading.models import Bot

TOKEN = "123456:TEST-token"
ALICE_CHAT, STRANGER_CHAT = 7001, 7002


class FakeBotApi:
    """Telegram's Bot API for one bot token: queued updates out, sent messages recorded."""

    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.sent: list[dict] = []
        self.calls: list[str] = []
        self.next_id = 1
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                prefix = f"/bot{TOKEN}/"
                if not self.path.startswith(prefix):
                    return self._answer(401, {"ok": False, "description": "Unauthorized"})
                method = self.path[len(prefix) :]
                fake.calls.append(method)
                if method == "getUpdates":
                    with fake.lock:
                        offset = body.get("offset") or 0
                        fake.updates = [u for u in fake.updates if u["update_id"] >= offset]
                        result = list(fake.updates)
                    return self._answer(200, {"ok": True, "result": result})
                if method == "sendMessage":
                    if not isinstance(body.get("chat_id"), int) or not body.get("text"):
                        return self._answer(400, {"ok": False, "description": "Bad Request"})
                    fake.sent.append(body)
                    return self._answer(200, {"ok": True, "result": {"message_id": len(fake.sent)}})
                return self._answer(404, {"ok": False, "description": "Not Found"})

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def say(self, chat_id: int, text: str, username: str = "alice_tg") -> None:
        with self.lock:
            self.updates.append(
                {
                    "update_id": self.next_id,
                    "message": {
                        "message_id": self.next_id,
                        "chat": {"id": chat_id, "type": "private"},
                        "from": {"id": chat_id, "username": username},
                        "text": text,
                    },
                }
            )
            self.next_id += 1


@pytest.fixture
def bot_api(settings):
    fake = FakeBotApi()
    settings.PEREGRINE_TELEGRAM_BOT_TOKEN = TOKEN
    settings.PEREGRINE_TELEGRAM_BOT_NAME = "PeregrineTestBot"
    settings.PEREGRINE_TELEGRAM_API_URL = fake.url
    api = telegram.api_from_settings()
    state = {"offset": None}

    def exchange(chat_id: int, text: str) -> str:
        """Send `text` from the chat; return what the bot answered."""
        before = len(fake.sent)
        fake.say(chat_id, text)
        state["offset"] = telegram.poll_once(api, offset=state["offset"], wait=0)
        answers = [m for m in fake.sent[before:] if m["chat_id"] == chat_id]
        assert len(answers) == 1, answers
        return answers[0]["text"]

    exchange.fake = fake
    yield exchange
    api.close()
    fake.server.shutdown()


def _code(alice_otp_client, scope: str) -> str:
    response = alice_otp_client.post("/notifications/telegram/link/", {"scope": scope})
    assert response.status_code == 200
    match = re.search(r"/link ([0-9A-F]{8})", response.content.decode())
    assert match, response.content.decode()[-1500:]
    return match.group(1)


def _bot(user, name="alice-maker", status=Bot.Status.RUNNING):
    return Bot.objects.create(
        user=user,
        name=name,
        strategy="pure_market_making",
        symbols=["BTC/USDT"],
        status=status,
        budget="1000",
    )


def test_link_read_then_trade_with_confirmation(alice, alice_otp_client, bob, bot_api):
    bot = _bot(alice)
    bobs = _bot(bob, name="bob-secret")

    assert "not linked" in bot_api(ALICE_CHAT, "/status")
    code = _code(alice_otp_client, "read")
    assert bot_api(ALICE_CHAT, f"/link {code}").startswith(f"Linked to {alice.email} (read only)")
    assert "unknown or expired" in bot_api(STRANGER_CHAT, f"/link {code}")  # one use
    link = TelegramLink.objects.get(chat_id=ALICE_CHAT)
    assert (link.user, link.scope, link.username) == (alice, "read", "alice_tg")

    status = bot_api(ALICE_CHAT, "/status")
    assert f"#{bot.pk} alice-maker (paper): Running" in status and "bob-secret" not in status
    assert f"#{bot.pk} alice-maker: pure_market_making on BTC/USDT" in bot_api(ALICE_CHAT, "/bots")
    assert "No results yet" not in bot_api(ALICE_CHAT, "/profit")
    assert len(bot_api(ALICE_CHAT, "/daily 3").splitlines()) == 3
    assert "1 to 30" in bot_api(ALICE_CHAT, "/daily 999")
    assert "read only" in bot_api(ALICE_CHAT, f"/stop {bot.pk}")
    assert "Unknown command /withdraw" in bot_api(ALICE_CHAT, "/withdraw all")

    code = _code(alice_otp_client, "trade")
    assert "read and trade" in bot_api(ALICE_CHAT, f"/link {code}")
    assert f"no bot #{bobs.pk}" in bot_api(ALICE_CHAT, f"/kill {bobs.pk}")  # bob's: unknown
    ask = bot_api(ALICE_CHAT, f"/pause {bot.pk}")
    confirm = re.search(r"/confirm (\d{6})", ask).group(1)
    wrong = "000000" if confirm != "000000" else "111111"
    assert "Nothing to confirm" in bot_api(ALICE_CHAT, f"/confirm {wrong}")
    assert "not linked" in bot_api(STRANGER_CHAT, f"/confirm {confirm}")  # another chat
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING  # nothing done without the right code
    done = bot_api(ALICE_CHAT, f"/confirm {confirm}")
    bot.refresh_from_db()
    assert done == f"Done: bot #{bot.pk} alice-maker is paused." and bot.status == "paused"
    assert "Nothing to confirm" in bot_api(ALICE_CHAT, f"/confirm {confirm}")  # once
    assert AuditEvent.objects.filter(action="telegram.pause", target_id=str(bot.pk)).exists()
    bobs.refresh_from_db()
    assert bobs.status == Bot.Status.RUNNING

    assert "no longer linked" in bot_api(ALICE_CHAT, "/unlink")
    assert "not linked" in bot_api(ALICE_CHAT, f"/stop {bot.pk}")
    assert {"telegram.link", "telegram.unlink"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )


def test_a_chat_sees_nothing_before_linking(alice, bot_api):
    _bot(alice)
    for command in ("/status", "/bots", "/profit", "/balance", "/daily", "/kill 1", "/confirm 1"):
        assert "not linked" in bot_api(STRANGER_CHAT, command)
    assert "unknown or expired" in bot_api(STRANGER_CHAT, "/link NOPE1234")
    assert not TelegramLink.objects.exists()
    assert set(bot_api.fake.calls) == {"getUpdates", "sendMessage"}


def test_the_page_links_and_unlinks(alice, alice_otp_client, bob_client, bot_api):
    page = alice_otp_client.get("/notifications/").content.decode()
    assert "@PeregrineTestBot" in page and "Link a Telegram chat" in page
    bad = alice_otp_client.post("/notifications/telegram/link/", {"scope": "admin"})
    assert "Choose read or trade" in bad.content.decode()
    bot_api(ALICE_CHAT, f"/link {_code(alice_otp_client, 'read')}")
    link = TelegramLink.objects.get()
    assert "@alice_tg" in alice_otp_client.get("/notifications/").content.decode()
    assert bob_client.post(f"/notifications/telegram/{link.pk}/unlink/").status_code == 404
    assert TelegramLink.objects.exists()
    alice_otp_client.post(f"/notifications/telegram/{link.pk}/unlink/")
    assert not TelegramLink.objects.exists()


def test_updates_after_an_outage_of_the_bot_api_are_answered(alice, bot_api, settings):
    """A Bot API that does not answer is retried with backoff; nothing is lost meanwhile."""
    api = telegram.BotApi(token=TOKEN, base_url="http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(telegram.TelegramError):
        telegram.poll_once(api, offset=None, wait=0)
    assert "not linked" in bot_api(STRANGER_CHAT, "/status")
