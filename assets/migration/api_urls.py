"""API routes of migration (included from enos_portal/api_urls.py)."""

from rest_framework.routers import SimpleRouter

from .api import MigrationViewSet

router = SimpleRouter()
router.register("migrations", MigrationViewSet, basename="api-migration")

urlpatterns = router.urls
