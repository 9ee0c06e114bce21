from __future__ import annotations


def workspace(request):
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {"membership": membership, "organization": membership.organization}
