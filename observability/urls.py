"""Console routes of observability: the current OU's audit log."""

from django.urls import path

from . import views

app_name = "observability"
urlpatterns = [
    path("audit-log/", views.audit_log_page, name="audit-log"),
    path("audit-log/export.<str:fmt>", views.audit_log_export, name="audit-log-export"),
]
