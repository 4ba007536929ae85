from django.urls import path

from . import manage_views, views

urlpatterns = [
    path("auth/sign-in", views.sign_in, name="sign-in"),
    path("auth/sign-out", views.sign_out, name="sign-out"),
    path("auth/signed-out", views.signed_out, name="signed-out"),
    path("auth/oidc/start", views.oidc_start, name="oidc-start"),
    path("auth/oidc/callback", views.oidc_callback, name="oidc-callback"),
    path("manage/users", manage_views.users, name="manage-users"),
    path("manage/users/<int:user_id>", manage_views.change_user, name="manage-user"),
    path("manage/tokens", manage_views.tokens, name="manage-tokens"),
    path("manage/tokens/<int:token_id>/revoke", manage_views.revoke_token, name="revoke-token"),
    path("manage/audit", manage_views.audit_trail, name="manage-audit"),
]
