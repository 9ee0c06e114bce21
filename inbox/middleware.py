"""Attach the signed-in user's membership (organization and role) to the request.

Every selector scopes by `request.membership.organization`; a user with no membership sees nothing.
"""

from __future__ import annotations

from .models import Membership


class OrganizationMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        if request.user.is_authenticated:
            request.membership = (
                Membership.objects.select_related("organization")
                .filter(user=request.user)
                .order_by("id")
                .first()
            )
        return self.get_response(request)
