"""The three roles: Django groups holding permissions, each role everything the one before has.

viewer: the order list, an order's page and the API's reads. clerk: + creating orders by form
and API. admin: + users, API tokens and the audit trail. Entra ID sends its app roles' values
in the ID token's `roles` claim (infra/env.yaml declares them with these values).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import connections, router

VIEWER, CLERK, ADMIN = "viewer", "clerk", "admin"
ROLES = (VIEWER, CLERK, ADMIN)

VIEW_ORDERS = "orders.view_order"
ADD_ORDERS = "orders.add_order"
MANAGE_USERS = "auth.change_user"
MANAGE_TOKENS = "accounts.change_apitoken"
VIEW_AUDIT = "accounts.view_auditevent"

_ADMIN_ONLY = (
    "auth.view_user",
    MANAGE_USERS,
    "accounts.view_apitoken",
    "accounts.add_apitoken",
    MANAGE_TOKENS,
    VIEW_AUDIT,
)
PERMISSIONS: dict[str, tuple[str, ...]] = {
    VIEWER: (VIEW_ORDERS,),
    CLERK: (VIEW_ORDERS, ADD_ORDERS),
    ADMIN: (VIEW_ORDERS, ADD_ORDERS, *_ADMIN_ONLY),
}

# The app roles' values in Entra ID's `roles` claim.
ENTRA_ROLE_VALUES = {"Orderdesk.Viewer": VIEWER, "Orderdesk.Clerk": CLERK, "Orderdesk.Admin": ADMIN}


def ensure_roles() -> dict[str, Group]:
    """The role groups with exactly their permissions; safe to run any number of times."""
    # Django makes an app's permissions after that app's migrations: the apps after this one
    # in INSTALLED_APPS (orders) have none yet when accounts' post_migrate runs.
    for label in sorted(
        {name.split(".", 1)[0] for names in PERMISSIONS.values() for name in names}
    ):
        create_permissions(apps.get_app_config(label), verbosity=0)
    groups = {}
    for role, names in PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = [_permission(name) for name in names]
        if set(group.permissions.all()) != set(wanted):
            group.permissions.set(wanted)
        groups[role] = group
    return groups


def ensure_roles_after_migrate(**_: Any) -> None:
    ensure_roles()


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


_ROLE_CACHE = "_orderdesk_role"
_UNSET = object()


def role_of(user: Any) -> str | None:
    """The user's role: the highest of the role groups they are in, or None."""
    names = _group_names(user)
    held = [role for role in ROLES if role in names]
    return held[-1] if held else None


def request_role(user: Any) -> str | None:
    """role_of, read once per user object: one request's, as Django keeps its permissions."""
    # getattr, not __dict__: request.user is a lazy proxy of the same User.
    cached = getattr(user, _ROLE_CACHE, _UNSET)
    if cached is _UNSET:
        cached = role_of(user)
        setattr(user, _ROLE_CACHE, cached)
    return cast("str | None", cached)


def set_role(user: Any, role: str | None) -> None:
    """Make `role` the user's only role (None: no role at all)."""
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    groups = ensure_roles()
    for cached_name in (_ROLE_CACHE, "_perm_cache", "_group_perm_cache"):
        if hasattr(user, cached_name):
            delattr(user, cached_name)
    user.groups.remove(*[groups[name] for name in ROLES if name != role])
    if role is not None:
        user.groups.add(groups[role])


def highest_entra_role(values: Iterable[Any]) -> str | None:
    """The highest Orderdesk role among the ID token's `roles`; unknown values count for nothing."""
    held = {ENTRA_ROLE_VALUES[v] for v in values if isinstance(v, str) and v in ENTRA_ROLE_VALUES}
    ranked = [role for role in ROLES if role in held]
    return ranked[-1] if ranked else None


# Literal SQL (Django's default auth tables): what runs is what is read here.
_GROUP_NAMES = (
    "SELECT g.name FROM auth_group g JOIN auth_user_groups l ON l.group_id = g.id"
    " WHERE l.user_id = %s"
)


def _group_names(user: Any) -> set[str]:
    """The user's group names in one plain query: on every signed-in request, the ORM's
    building of `user.groups.all()` cost more than the database's answer."""
    if user.pk is None:
        return set()
    with connections[router.db_for_read(Group)].cursor() as cursor:
        cursor.execute(_GROUP_NAMES, [user.pk])
        return {row[0] for row in cursor.fetchall()}
