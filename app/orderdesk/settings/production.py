"""Production: every secret required, HTTPS everywhere, `manage.py check --deploy` clean."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from orderdesk.environment import flag, names, secret, whole_number

from .auth import AUTH_MODES, entra_settings_or_fail, required_choice
from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = secret("DJANGO_SECRET_KEY", required_for="production needs Django's signing key")
CARD_FINGERPRINT_KEY = secret(
    "ORDERDESK_CARD_KEY", required_for="production needs the HMAC key for card fingerprints"
)
ALLOWED_HOSTS = names("DJANGO_ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS is not set: list the app's host names, comma-separated"
    )

# TLS ends at the ingress (application gateway), which tells us the scheme it saw.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = flag("DJANGO_SECURE_SSL_REDIRECT", True)
# Probes and Prometheus speak plain HTTP to the pod.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = whole_number("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# __Host-: the browser sends these only to this host over HTTPS, never a parent domain's.
SESSION_COOKIE_NAME = "__Host-orderdesk_session"
CSRF_COOKIE_NAME = "__Host-csrftoken"

# Production names its way in; each mode refuses to start without what it needs.
ORDERDESK_AUTH = required_choice("ORDERDESK_AUTH", AUTH_MODES)
if ORDERDESK_AUTH == "entra":
    entra_settings_or_fail()

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names so browsers can cache static files for a year; collected at image build.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
STATIC_ROOT = STATIC_ROOT or str(APP_DIR / "staticfiles")  # noqa: F405
