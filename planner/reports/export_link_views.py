"""The "Export links" page: a user lists, creates and revokes their own read-only export links.

The secret is rendered once, on the page the creating POST redirects to (not cached); it is kept in the
session only until then, and afterwards only its hash exists (planner.models.ExportLink). Revoking takes
effect at the next request, as ExportLinkAuthentication looks every use up.
"""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from .authentication import QUERY_PARAMETER
from .models import ExportLink

NEW_SECRET_KEY = "new_export_link"


class ExportLinkForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=ExportLink._meta.get_field("name").max_length,
        help_text="What the link is for, e.g. “capacity sheet”.",
    )


@never_cache
def export_links(request):
    form = ExportLinkForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        link, secret = ExportLink.issue(user=request.user, name=form.cleaned_data["name"])
        # Post/redirect/get, so a reload cannot create a second link; the secret waits in the session only
        # until the redirected page pops it.
        request.session[NEW_SECRET_KEY] = {"name": link.name, "secret": secret}
        return redirect("export-links")
    created = request.session.pop(NEW_SECRET_KEY, None)
    if created is not None:
        example = request.build_absolute_uri(reverse("hall-headroom")) + f"?format=csv&{QUERY_PARAMETER}="
        created["example_url"] = example + created["secret"]
    links = ExportLink.objects.filter(user=request.user)
    return render(request, "account/export_links.html", {"form": form, "links": links, "created": created})


def revoke_export_link(request, pk):
    """GET asks for confirmation; POST revokes (only the user's own links: another's answers 404)."""
    link = get_object_or_404(ExportLink.objects.filter(user=request.user), pk=pk)
    if request.method == "POST":
        ExportLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        messages.success(request, f"Revoked export link “{link.name}”; URLs with its secret stop working now.")
        return redirect("export-links")
    return render(request, "account/export_link_revoke.html", {"link": link})
