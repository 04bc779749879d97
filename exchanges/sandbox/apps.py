from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "exchanges.sandbox"
    label = "sandbox"
    verbose_name = "Sandbox exchange"
