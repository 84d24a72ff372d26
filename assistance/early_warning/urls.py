from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("warning-runs", api.WarningRunViewSet, basename="warning-run")
router.register("warnings", api.WarningViewSet, basename="warning")
router.register("warning-deliveries", api.WarningDeliveryViewSet, basename="warning-delivery")

urlpatterns = router.urls
