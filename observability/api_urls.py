from django.urls import path

from .api import AuditEventExport, AuditEventList

urlpatterns = [
    path("audit-events/", AuditEventList.as_view(), name="api-audit-events"),
    path("audit-events/export/", AuditEventExport.as_view(), name="api-audit-events-export"),
]
