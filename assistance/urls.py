"""API routes of the eligibility review, mounted under /api/v1/."""
from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api
from .bank_payouts import api as bank_api

router = SimpleRouter()
router.register("assistance/applications", api.ApplicationViewSet, basename="assistance-application")
router.register("assistance/payouts", api.PayoutViewSet, basename="assistance-payout")
router.register("assistance/objects", api.AssistanceObjectViewSet, basename="assistance-object")
router.register("assistance/holidays", api.HolidayViewSet, basename="assistance-holiday")
router.register("assistance/payout-batches", bank_api.PayoutBatchViewSet, basename="assistance-payout-batch")

urlpatterns = [
    path("assistance/dynamics/", api.DynamicsView.as_view(), name="assistance-dynamics"),
    path("assistance/payout-queue/", bank_api.PayoutQueueView.as_view(), name="assistance-payout-queue"),
    *router.urls,
]
