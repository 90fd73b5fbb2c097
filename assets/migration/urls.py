"""Console routes of migration (included from assets/urls.py at devices/migrate/, in the assets namespace)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.migrate_start, name="migrate"),
    path("<int:pk>/", views.migrate_status, name="migrate-status"),
    path("<int:pk>/resend/", views.migrate_resend, name="migrate-resend"),
    path("<int:pk>/code/", views.migrate_code, name="migrate-code"),
    path("<int:pk>/confirm/", views.migrate_confirm, name="migrate-confirm"),
]
