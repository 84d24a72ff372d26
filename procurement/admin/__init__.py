"""Admin of procurement for finance: master data, deliveries and their acceptance and
reconciliation, payment runs (run, review), payment orders, due-soon and overdue lists, and
the reports.  Every write goes through ``services``; state fields are read-only.

Django autodiscovers this package; importing the modules registers their admins.
"""
from ._base import FINANCE, ReadOnlyInline, ServiceFormMixin
from .deliveries import AcceptForm, DeliveryAdmin, ReconcileForm
from .master import (
    AgreedVolumeAdmin, HospitalAdmin, OrderAdmin, ProcurementBatchAdmin, ProductAdmin, StatementForm, SupplierAdmin,
)
from .reports import ReportForm, report_charts, report_terms, settlement_sheet
from .runs import (
    HospitalDeductionAdmin, HospitalDeductionInline, PaymentLineInline, PaymentOrderAdmin, PaymentOrderInline,
    PaymentRunAdmin, RunForm, ToReviewFilter,
)

__all__ = [
    "FINANCE", "ReadOnlyInline", "ServiceFormMixin", "AcceptForm", "DeliveryAdmin", "ReconcileForm",
    "AgreedVolumeAdmin", "HospitalAdmin", "OrderAdmin", "ProcurementBatchAdmin", "ProductAdmin", "StatementForm",
    "SupplierAdmin", "ReportForm", "report_charts", "report_terms", "settlement_sheet", "HospitalDeductionAdmin",
    "HospitalDeductionInline", "PaymentLineInline", "PaymentOrderAdmin", "PaymentOrderInline", "PaymentRunAdmin",
    "RunForm", "ToReviewFilter",
]
