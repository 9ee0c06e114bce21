from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

# Allegro accepts at most 2000 characters in a Message Center message (allegro-api.md §3).
MAX_REPLY_LENGTH = 2000


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".pdf,image/*"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class ReplyForm(forms.Form):
    text = forms.CharField(
        label=_("Reply"),
        max_length=MAX_REPLY_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": _("Write a reply… (Ctrl+Enter sends)")}),
    )
    attachments = MultipleFileField(label=_("Attachments"), required=False)
    # One key per form render: a double submit stores one reply, not two.
    idempotency_key = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        import uuid

        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["idempotency_key"] = uuid.uuid4()

    def clean_attachments(self):
        from .attachments import validate_reply_files

        return validate_reply_files(self.cleaned_data.get("attachments") or [])


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none(), required=False)

    def __init__(self, *args, organization, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["assignee"].queryset = get_user_model().objects.filter(
            memberships__organization=organization
        )

    def clean(self):
        data = super().clean()
        if self.data.get("assignee") == "me":
            data["assignee"] = self.user
            self.errors.pop("assignee", None)
        return data
