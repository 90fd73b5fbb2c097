"""Console routes of observability: the current OU's audit log, its alerts, alert rules and notification log."""

from django.urls import path

from . import alerts_views, views

app_name = "observability"
urlpatterns = [
    path("audit-log/", views.audit_log_page, name="audit-log"),
    path("audit-log/export.<str:fmt>", views.audit_log_export, name="audit-log-export"),
    path("alerts/", alerts_views.alert_list, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", alerts_views.alert_acknowledge, name="alert-acknowledge"),
    path("alerts/<int:pk>/resolve/", alerts_views.alert_resolve, name="alert-resolve"),
    path("alert-rules/", alerts_views.rule_list, name="alert-rules"),
    path("alert-rules/new/", alerts_views.rule_create, name="alert-rule-create"),
    path("alert-rules/<int:pk>/edit/", alerts_views.rule_edit, name="alert-rule-edit"),
    path("alert-rules/<int:pk>/delete/", alerts_views.rule_delete, name="alert-rule-delete"),
    path("alert-rules/webhook-secret/<str:ou_id>/reset/", alerts_views.webhook_secret_reset,
         name="webhook-secret-reset"),
    path("alert-deliveries/", alerts_views.delivery_list, name="alert-deliveries"),
]
