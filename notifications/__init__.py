"""Per-user notification channels (email, Telegram, Discord, Slack, webhook) and their delivery."""
