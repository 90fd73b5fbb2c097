from django.urls import path
from rest_framework.routers import SimpleRouter

from .alerts_api import AlertRuleViewSet, AlertViewSet, DeliveryViewSet
from .api import AuditEventExport, AuditEventList

router = SimpleRouter()
router.register("alert-rules", AlertRuleViewSet, basename="api-alert-rule")
router.register("alerts", AlertViewSet, basename="api-alert")
router.register("alert-deliveries", DeliveryViewSet, basename="api-alert-delivery")

urlpatterns = [
    path("audit-events/", AuditEventList.as_view(), name="api-audit-events"),
    path("audit-events/export/", AuditEventExport.as_view(), name="api-audit-events-export"),
    *router.urls,
]
