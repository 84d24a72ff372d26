from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("claims", api.ClaimViewSet, basename="claim")
router.register("ledgers", api.LedgerViewSet, basename="ledger")
router.register("fund-entries", api.FundEntryViewSet, basename="fund-entry")

urlpatterns = [
    path("fund-report/", api.FundReportView.as_view(), name="fund-report"),
    *router.urls,
]
