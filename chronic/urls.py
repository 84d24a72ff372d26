"""API routes of chronic and special diseases, mounted under /api/v1/."""
from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("chronic-diseases", api.ChronicDiseaseViewSet, basename="chronic-disease")
router.register("chronic-certifications", api.CertificationViewSet, basename="chronic-certification")

urlpatterns = [
    path("chronic-reports/certified/", api.CertifiedReportView.as_view(), name="chronic-report-certified"),
    path("chronic-reports/spending/", api.SpendingReportView.as_view(), name="chronic-report-spending"),
    *router.urls,
]
