from rest_framework.routers import DefaultRouter

from .views import DeviceViewSet, ProductViewSet, ThingModelViewSet

router = DefaultRouter()
router.register("devices", DeviceViewSet, basename="api-device")
router.register("products", ProductViewSet, basename="api-product")
router.register("models", ThingModelViewSet, basename="api-model")

urlpatterns = router.urls
