from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="assets:device-list", permanent=False)),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # gettext()/ngettext() for the static scripts, in the page's language (djangojs catalogs of the apps)
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("accounts/", include("accounts.urls")),
    path("", include("assets.urls")),
    path("", include("tracing.urls")),
    path("", include("connectivity.urls")),
    path("", include("observability.urls")),
    path("", include("fleet.urls")),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the header's language switch
    path("admin/", admin.site.urls),
    path("api/", include("enos_portal.api_urls")),
]

handler500 = "enos_portal.api.server_error"  # JSON under /api/
