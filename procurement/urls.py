from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("procurement-batches", api.ProcurementBatchViewSet, basename="procurement-batch")
router.register("suppliers", api.SupplierViewSet, basename="supplier")
router.register("products", api.ProductViewSet, basename="product")
router.register("hospitals", api.HospitalViewSet, basename="hospital")
router.register("agreed-volumes", api.AgreedVolumeViewSet, basename="agreed-volume")
router.register("orders", api.OrderViewSet, basename="procurement-order")
router.register("deliveries", api.DeliveryViewSet, basename="delivery")
router.register("payment-runs", api.PaymentRunViewSet, basename="payment-run")
router.register("payment-orders", api.PaymentOrderViewSet, basename="payment-order")

urlpatterns = [
    path("procurement-reports/settlement/", api.SettlementReportView.as_view(), name="procurement-settlement-report"),
    path("procurement-reports/volume-completion/", api.VolumeCompletionView.as_view(),
         name="procurement-volume-completion"),
    *router.urls,
]
