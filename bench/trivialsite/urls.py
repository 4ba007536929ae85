"""The app's routes plus /bench/trivial, which does no work beyond the middleware stack."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from orderdesk.urls import urlpatterns as app_urlpatterns


def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/trivial", trivial), *app_urlpatterns]
