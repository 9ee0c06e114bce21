from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Outbound webhooks for reply deadlines: the SLA beat sends these signals after its commit.
        try:
            from sla import signals as sla_signals
        except ImportError:  # the SLA engine's signals are not there (yet)
            return
        from . import webhooks

        sla_signals.sla_warning.connect(webhooks.on_sla_warning, dispatch_uid="webhooks.sla_warning")
        sla_signals.sla_breached.connect(webhooks.on_sla_breached, dispatch_uid="webhooks.sla_breached")
