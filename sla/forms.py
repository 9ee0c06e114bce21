from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .calculations import CalendarError, business_hours_calendar
from .models import CalendarKind
from .policy import EffectivePolicy

HOURS = {"min_value": Decimal("0.25"), "max_value": Decimal("720"), "decimal_places": 2, "max_digits": 6}


def _hours(minutes: int | None) -> Decimal | None:
    if minutes is None:
        return None
    return (Decimal(minutes) / 60).quantize(Decimal("0.01")).normalize()


class PolicyForm(forms.Form):
    """One conversation kind's reply policy (hours in the form, minutes in the database)."""

    marketplace_limit_hours = forms.DecimalField(label=_("Marketplace limit (hours)"), **HOURS)
    marketplace_calendar = forms.ChoiceField(label=_("counted on"), choices=CalendarKind.choices)
    team_target_hours = forms.DecimalField(
        label=_("Team target (hours)"), required=False, help_text=_("Empty: no team target."), **HOURS
    )
    team_calendar = forms.ChoiceField(label=_("counted on"), choices=CalendarKind.choices)
    business_hours = forms.CharField(
        label=_("Business hours"),
        max_length=200,
        help_text=_(
            'For example "mon-fri 08:00-18:00" or "mon-fri 08:00-12:00,13:00-17:00; sat 10:00-14:00".'
        ),
    )
    warning_hours = forms.CharField(
        label=_("Warn at (hours left)"),
        max_length=100,
        required=False,
        help_text=_('Running time left, comma-separated, for example "4, 1" or "2.5".'),
    )

    @classmethod
    def initial_for(cls, policy: EffectivePolicy) -> dict:
        return {
            "marketplace_limit_hours": _hours(policy.marketplace_limit_minutes),
            "marketplace_calendar": policy.marketplace_calendar,
            "team_target_hours": _hours(policy.team_target_minutes),
            "team_calendar": policy.team_calendar,
            "business_hours": policy.business_hours,
            "warning_hours": ", ".join(str(_hours(m)) for m in policy.warning_minutes),
        }

    def clean_business_hours(self) -> str:
        value = self.cleaned_data["business_hours"].strip()
        try:
            return business_hours_calendar(value).windows_spec()
        except CalendarError:
            raise forms.ValidationError(_("Not valid business hours.")) from None

    def clean_warning_hours(self) -> list[int]:
        minutes = []
        for part in self.cleaned_data["warning_hours"].replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            try:
                value = Decimal(part)
            except ArithmeticError:
                raise forms.ValidationError(_("Give hours as numbers, for example 4, 1.")) from None
            if not 0 < value <= 720:
                raise forms.ValidationError(_("Give hours as numbers, for example 4, 1."))
            minutes.append(int(value * 60))
        return sorted(set(minutes), reverse=True)

    def to_service_kwargs(self) -> dict:
        data = self.cleaned_data
        team = data["team_target_hours"]
        return {
            "marketplace_limit_minutes": int(data["marketplace_limit_hours"] * 60),
            "marketplace_calendar": data["marketplace_calendar"],
            "team_target_minutes": int(team * 60) if team else None,
            "team_calendar": data["team_calendar"],
            "business_hours": data["business_hours"],
            "warning_minutes": data["warning_hours"],
        }


class DayOffForm(forms.Form):
    day = forms.DateField(label=_("Day"), widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class NoReplyNeededForm(forms.Form):
    reason = forms.CharField(
        label=_("Why no reply is needed"),
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. the buyer only said thank you")}),
    )


class QualityConfigForm(forms.Form):
    """The organization's override of the quality scheme (JSON) and the facts we cannot read."""

    scheme = forms.CharField(
        label=_("Scheme override (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60}),
        help_text=_(
            "Only what differs from the defaults: metrics by code, bands as a whole. Empty: defaults."
        ),
    )
    orders_30d = forms.IntegerField(
        label=_("Completed orders in the last 30 days"), required=False, min_value=0
    )
    company_account = forms.ChoiceField(
        label=_("Company account"),
        required=False,
        choices=[("", _("unknown")), ("yes", _("yes")), ("no", _("no"))],
    )

    def clean_scheme(self) -> dict:
        import json

        from .quality import scheme_validate

        text = (self.cleaned_data.get("scheme") or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from exc
        problems = scheme_validate(value)
        if problems:
            raise forms.ValidationError(problems)
        return value

    def to_service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "scheme": data["scheme"],
            "orders_30d": data.get("orders_30d"),
            "company_account": {"yes": True, "no": False}.get(data.get("company_account") or ""),
        }


class DailySummaryForm(forms.Form):
    enabled = forms.BooleanField(label=_("Send the daily summary"), required=False)
    hour = forms.TypedChoiceField(
        label=_("Hour (Europe/Warsaw)"),
        choices=[(h, f"{h:02d}:00") for h in range(24)],
        coerce=int,
        initial=7,
    )
    roles = forms.MultipleChoiceField(
        label=_("Recipients"),
        choices=[("owner", _("Owners")), ("lead", _("Team leads"))],
        widget=forms.CheckboxSelectMultiple,
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES, initial="pl")
