"""Admins' pages: users and their roles, API tokens, the audit trail."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import audit
from .models import ApiToken, AuditAction, AuditEvent
from .permissions import requires
from .roles import MANAGE_TOKENS, MANAGE_USERS, ROLES, VIEW_AUDIT, role_of, set_role

AUDIT_PAGE_SIZE = 50
MAX_TOKEN_DAYS = 366


class UserChangeForm(forms.Form):
    role = forms.ChoiceField(choices=[("", "no role"), *[(r, r) for r in ROLES]], required=False)
    active = forms.BooleanField(required=False)


class TokenForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True))
    name = forms.CharField(max_length=100)
    read_only = forms.BooleanField(required=False, initial=True)
    days = forms.IntegerField(min_value=1, max_value=MAX_TOKEN_DAYS, initial=90)


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(choices=[("", "any"), *AuditAction.choices], required=False)
    actor = forms.CharField(max_length=150, required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


@requires(MANAGE_USERS)
@require_GET
def users(request: HttpRequest) -> HttpResponse:
    people = get_user_model().objects.order_by("username").prefetch_related("groups")
    rows = [{"user": u, "role": role_of(u)} for u in people]
    return render(request, "accounts/users.html", {"rows": rows, "roles": ROLES})


@requires(MANAGE_USERS)
@require_POST
def change_user(request: HttpRequest, user_id: int) -> HttpResponse:
    user: Any = get_object_or_404(get_user_model(), pk=user_id)
    form = UserChangeForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/forbidden.html", {"message": "Choose a role."}, status=400)
    if user.pk == request.user.pk and not form.cleaned_data["active"]:
        message = "You cannot disable your own account; ask another admin."
        return render(request, "accounts/forbidden.html", {"message": message}, status=400)
    role = form.cleaned_data["role"] or None
    set_role(user, role)
    user.is_active = form.cleaned_data["active"]
    user.save(update_fields=["is_active"])
    state = "active" if user.is_active else "disabled"
    audit.record(
        AuditAction.USER_CHANGED,
        request,
        target=user.get_username(),
        detail=f"role={role or 'none'} {state}",
    )
    return redirect("manage-users")


@requires(MANAGE_TOKENS)
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    issued = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            token, issued = ApiToken.issue(
                form.cleaned_data["user"],
                form.cleaned_data["name"],
                read_only=form.cleaned_data["read_only"],
                days=form.cleaned_data["days"],
            )
            _record_token(request, AuditAction.TOKEN_ISSUED, token)
            form = TokenForm()
        else:
            status = 400
    listed = ApiToken.objects.select_related("user").order_by("-created_at")[:200]
    context = {"form": form, "tokens": listed, "issued": issued, "now": timezone.now()}
    response = render(request, "accounts/tokens.html", context, status=status)
    # The page showing a new token must never be kept by a browser or a proxy.
    response["Cache-Control"] = "no-store"
    return response


@requires(MANAGE_TOKENS)
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        _record_token(request, AuditAction.TOKEN_REVOKED, token)
    return redirect("manage-tokens")


def _record_token(request: HttpRequest, action: AuditAction, token: ApiToken) -> None:
    detail = "read-only" if token.read_only else "read-write"
    if token.expires_at:
        detail += f", expires {token.expires_at:%Y-%m-%d}"
    audit.record(
        action, request, target=f"{token.name} {token.shown_prefix} for {token.user}", detail=detail
    )


@requires(VIEW_AUDIT)
@require_GET
def audit_trail(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    events = filtered_events(form)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode()}
    return render(request, "accounts/audit.html", context)


def filtered_events(form: AuditFilterForm) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if not form.is_bound:
        return events
    if not form.is_valid():
        return events.none()
    data = form.cleaned_data
    if data["action"]:
        events = events.filter(action=data["action"])
    if data["actor"]:
        events = events.filter(actor_name__icontains=data["actor"])
    if data["since"]:
        events = events.filter(at__date__gte=data["since"])
    if data["until"]:
        events = events.filter(at__date__lte=data["until"])
    return events
