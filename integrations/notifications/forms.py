"""Forms of the notifications pages (leads only)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.models import ChannelAccount
from integrations.models import NotificationSettings, NotificationTemplate

from . import compliance


class TriggerForm(forms.Form):
    """The seller's own trigger: order packed / invoice issued / return received."""

    kind = forms.ChoiceField(label=_("What happened"), choices=NotificationTemplate.Kind.choices)
    account = forms.ModelChoiceField(label=_("Allegro account"), queryset=ChannelAccount.objects.none())
    order_id = forms.CharField(label=_("Order id"), max_length=100)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("As the order's marketplace")), *NotificationTemplate.Language.choices],
        required=False,
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = ChannelAccount.objects.filter(
            organization=organization, kind=ChannelAccount.Kind.ALLEGRO, is_active=True
        )

    def clean_order_id(self):
        return self.cleaned_data["order_id"].strip()


class SettingsForm(forms.ModelForm):
    class Meta:
        model = NotificationSettings
        fields = [
            "enabled",
            "merge_window_minutes",
            "cap_per_order",
            "cap_per_buyer_day",
            "return_address",
            "autoresponder_enabled",
            "autoresponder_text",
            "autoresponder_period_hours",
            "template_warning_enabled",
            "undo_seconds",
        ]
        widgets = {
            "return_address": forms.Textarea(attrs={"rows": 2}),
            "autoresponder_text": forms.Textarea(attrs={"rows": 3}),
        }

    def clean_merge_window_minutes(self):
        value = self.cleaned_data["merge_window_minutes"]
        if not 1 <= value <= 24 * 60:
            raise forms.ValidationError(_("Between 1 minute and 24 hours."))
        return value

    def clean(self):
        data = super().clean()
        if data.get("autoresponder_enabled") and not (data.get("autoresponder_text") or "").strip():
            self.add_error("autoresponder_text", _("Write the acknowledgement text first."))
        elif data.get("autoresponder_text") and compliance.check(data["autoresponder_text"]).held:
            self.add_error(
                "autoresponder_text",
                _("This text only repeats what Allegro already tells the buyer; say something useful."),
            )
        return data


class TemplateForm(forms.Form):
    kind = forms.ChoiceField(choices=NotificationTemplate.Kind.choices, widget=forms.HiddenInput)
    language = forms.ChoiceField(choices=NotificationTemplate.Language.choices, widget=forms.HiddenInput)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 4}), max_length=5000)


class PreviewForm(forms.Form):
    account = forms.ModelChoiceField(label=_("Allegro account"), queryset=ChannelAccount.objects.none())
    order_id = forms.CharField(label=_("Order id"), max_length=100)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = ChannelAccount.objects.filter(
            organization=organization, kind=ChannelAccount.Kind.ALLEGRO, is_active=True
        )
