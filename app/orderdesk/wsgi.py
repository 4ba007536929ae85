"""WSGI entry point: `gunicorn -c gunicorn.conf.py orderdesk.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings.production")

application = get_wsgi_application()
