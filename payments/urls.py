from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("payment-batches", api.BatchViewSet, basename="payment-batch")
router.register("bank-files", api.BankFileViewSet, basename="bank-file")
router.register("payment-instructions", api.InstructionViewSet, basename="payment-instruction")
router.register("bank-results", api.BankResultViewSet, basename="bank-result")
router.register("payee-corrections", api.CorrectionViewSet, basename="payee-correction")
router.register("person-bank-accounts", api.PersonBankAccountViewSet, basename="person-bank-account")

urlpatterns = [
    path("payment-reconciliation/", api.ReconciliationView.as_view(), name="payment-reconciliation"),
    path("payment-reminders/", api.ReminderView.as_view(), name="payment-reminders"),
    *router.urls,
]
