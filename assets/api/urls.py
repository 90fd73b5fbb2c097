from rest_framework.routers import DefaultRouter

from .views import DeviceViewSet, ProductViewSet, ThingModelViewSet

# no `.json` suffix routes: the API speaks JSON by its Accept header (or ?format=), and suffix routes
# would hand every custom action a `format` keyword it does not take
router = DefaultRouter()
router.include_format_suffixes = False
router.register("devices", DeviceViewSet, basename="api-device")
router.register("products", ProductViewSet, basename="api-product")
router.register("models", ThingModelViewSet, basename="api-model")

urlpatterns = router.urls
