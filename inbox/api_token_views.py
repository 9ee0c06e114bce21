"""The API tokens page (owners and team leads; everyone else gets 404). Issue #8.

A new token is shown once, in the response to the POST that created it (never stored in plain
text, never put in a redirect URL or in the session).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from .authentication import api_token_create, api_token_get, api_token_list, api_token_revoke
from .models import ApiToken
from .views import lead_required

TEMPLATE = "inbox/api_tokens.html"


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    scope = forms.ChoiceField(
        label=gettext_lazy("Access"), choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ
    )


@require_http_methods(["GET", "POST"])
@lead_required
def api_token_list_view(request: HttpRequest) -> HttpResponse:
    org = request.membership.organization
    form = ApiTokenForm(request.POST or None)
    context = {"form": form, "new_token": None, "new_token_row": None}
    status = 200
    if request.method == "POST":
        if form.is_valid():
            token, raw = api_token_create(
                organization=org,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                acting_user=request.user,
            )
            context.update(new_token=raw, new_token_row=token, form=ApiTokenForm())
        else:
            status = 422
    context["tokens"] = api_token_list(organization=org)
    response = render(request, TEMPLATE, context, status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a token shown once
    return response


@require_POST
@lead_required
def api_token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    token = api_token_get(organization=request.membership.organization, pk=pk)
    api_token_revoke(token, acting_user=request.user)
    flash.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("inbox:api-tokens")
