"""API routes of the eligibility review, mounted under /api/v1/."""
from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("assistance/applications", api.ApplicationViewSet, basename="assistance-application")
router.register("assistance/payouts", api.PayoutViewSet, basename="assistance-payout")
router.register("assistance/objects", api.AssistanceObjectViewSet, basename="assistance-object")
router.register("assistance/holidays", api.HolidayViewSet, basename="assistance-holiday")

urlpatterns = [
    path("assistance/dynamics/", api.DynamicsView.as_view(), name="assistance-dynamics"),
    *router.urls,
]
