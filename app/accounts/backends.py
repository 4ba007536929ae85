"""Permissions from the role: one read of the user's groups instead of two permission joins."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from .roles import PERMISSIONS, request_role


class RoleBackend(ModelBackend):
    def get_user_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        return set()

    def get_group_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        role = request_role(user_obj)
        return set(PERMISSIONS[role]) if role else set()
