from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("persons", api.PersonViewSet, basename="person")
router.register("enrollments", api.EnrollmentViewSet, basename="enrollment")
router.register("identities", api.IdentityViewSet, basename="identity")
router.register("offsite-registrations", api.OffsiteRegistrationViewSet, basename="offsite-registration")
router.register("subsidy-batches", api.SubsidyBatchViewSet, basename="subsidy-batch")

urlpatterns = router.urls
