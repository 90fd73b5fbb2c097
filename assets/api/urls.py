from rest_framework.routers import DefaultRouter

from .groups import GroupViewSet
from .views import DeviceViewSet, ProductViewSet, ThingModelViewSet

router = DefaultRouter()
# no `/api/devices/X.json` twins of every route: the API speaks JSON (or ?format=), and the viewsets'
# actions do not take the `format` argument such routes pass (they answered 500)
router.include_format_suffixes = False
router.register("devices", DeviceViewSet, basename="api-device")
router.register("products", ProductViewSet, basename="api-product")
router.register("models", ThingModelViewSet, basename="api-model")
router.register("groups", GroupViewSet, basename="api-group")

urlpatterns = router.urls
