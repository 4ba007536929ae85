"""The app's routes plus trivial views that do no work beyond the middleware stack: one for
anyone, one behind the session sign-in (a page) and one behind a bearer token (under /api)."""

from django.contrib.auth.decorators import login_not_required, login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

from orderdesk.urls import urlpatterns as app_urlpatterns


@login_not_required
def anonymous(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


# login_required as well as the app's LoginRequiredMiddleware: the view refuses an anonymous
# request even under an app revision whose middleware would let it through.
@login_required
def signed_in(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


def token_signed_in(request: HttpRequest) -> HttpResponse:
    # login_required would redirect; /api answers 401, as the app's own API views do.
    if not request.user.is_authenticated:
        return HttpResponse(b"sign-in required", status=401, content_type="text/plain")
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("bench/anonymous", anonymous),
    path("bench/trivial", signed_in),
    # Ahead of the app's catch-all for /api: ApiTokenMiddleware signs it in by the token.
    path("api/bench/trivial", token_signed_in),
    *app_urlpatterns,
]
