from rest_framework.routers import DefaultRouter

from .api.views import JobViewSet

router = DefaultRouter()
router.include_format_suffixes = False
router.register("jobs", JobViewSet, basename="api-job")

urlpatterns = router.urls
