"""API of bank payments: batches (prepare, approve, produce the file), bank files (download,
mark sent), instructions, bank results (the bank's callback), payee corrections, the
reconciliation and the reminder on demand.  Finance writes; supervisors approve and read;
township agents see nothing of it."""
from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from yibao_site.api_base import ScopedQuerysetMixin
from yibao_site.models import Role
from yibao_site.money import jsonable

from . import selectors, services
from .models import (
    BankFile, BankFileLayout, BankResult, FileFormat, Instruction, InstructionBatch, PayeeCorrection, PersonBankAccount,
)
from .serializers import (
    AsOfSerializer, BankFileSerializer, BankResultSerializer, BatchDetailSerializer, BatchSerializer,
    CorrectionSerializer, InstructionSerializer, CorrectionNoteSerializer, PersonBankAccountSerializer, ProduceFileSerializer,
    ReconciliationQuerySerializer, ResultsInSerializer,
)

FINANCE = frozenset({Role.FINANCE})
SUPERVISOR = frozenset({Role.SUPERVISOR})
READERS = frozenset({Role.FINANCE, Role.SUPERVISOR})
REVIEWERS = frozenset({Role.FINANCE, Role.SUPERVISOR})
CONTENT_TYPES = {FileFormat.CSV: "text/csv", FileFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class BatchViewSet(ScopedQuerysetMixin, viewsets.ReadOnlyModelViewSet):
    """支付指令批次: one per supplier payment run or assistance payout batch."""

    queryset = InstructionBatch.objects.select_related("region", "prepared_by", "approved_by", "sent_by")
    serializer_class = BatchSerializer
    filterset_fields = {"purpose": ["exact"], "status": ["exact"], "on": ["gte", "lte"], "source_ref": ["exact"]}
    ordering = ["-on", "-id"]
    read_roles = READERS
    write_roles = FINANCE
    action_roles = {"prepare": FINANCE, "approve": SUPERVISOR, "produce_file": FINANCE, "reconciliation": READERS}

    def get_serializer_class(self):
        return BatchDetailSerializer if self.action == "retrieve" else super().get_serializer_class()

    @extend_schema(request=None, responses=BatchSerializer)
    @action(detail=True, methods=["post"])
    def prepare(self, request, pk=None):
        batch = services.batch_prepare(batch_id=self.get_object().pk, actor=request.user)
        return Response(BatchSerializer(batch).data)

    @extend_schema(request=None, responses=BatchSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        batch = services.batch_approve(batch_id=self.get_object().pk, actor=request.user)
        return Response(BatchSerializer(batch).data)

    @extend_schema(request=ProduceFileSerializer, responses={201: BankFileSerializer})
    @action(detail=True, methods=["post"], url_path="produce-file")
    def produce_file(self, request, pk=None):
        ser = ProduceFileSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        code = ser.validated_data.get("layout")
        layout = get_object_or_404(BankFileLayout, code=code) if code else None
        bank_file = services.bank_file_produce(batch_id=self.get_object().pk, layout=layout, actor=request.user)
        return Response(BankFileSerializer(bank_file).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def reconciliation(self, request, pk=None):
        return Response(jsonable(selectors.batch_reconciliation(self.get_object())))


class BankFileViewSet(viewsets.ReadOnlyModelViewSet):
    """银行文件: produced files; ``download`` the content, ``sent`` records who sent it when."""

    queryset = BankFile.objects.select_related("layout", "produced_by", "sent_by").defer("content")
    serializer_class = BankFileSerializer
    filterset_fields = {"batch": ["exact"]}
    ordering = ["-produced_at", "-id"]
    read_roles = READERS
    write_roles = FINANCE
    action_roles = {"sent": FINANCE, "download": FINANCE}

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        bank_file = BankFile.objects.select_related("layout").get(pk=self.get_object().pk)
        response = HttpResponse(bytes(bank_file.content), content_type=CONTENT_TYPES[bank_file.layout.file_format])
        response["Content-Disposition"] = f'attachment; filename="{bank_file.filename}"'
        return response

    @extend_schema(request=None, responses=BankFileSerializer)
    @action(detail=True, methods=["post"])
    def sent(self, request, pk=None):
        bank_file = services.bank_file_mark_sent(file_id=self.get_object().pk, actor=request.user)
        return Response(BankFileSerializer(bank_file).data)


class InstructionViewSet(viewsets.ReadOnlyModelViewSet):
    """支付指令, addressed by number (the bank's idempotency key)."""

    queryset = Instruction.objects.select_related("batch")
    serializer_class = InstructionSerializer
    lookup_field = "number"
    lookup_value_regex = r"[A-Za-z0-9\-]+"
    filterset_fields = {"status": ["exact"], "purpose": ["exact"], "batch": ["exact"], "payee_code": ["exact"],
                        "escalated_on": ["isnull", "gte", "lte"]}
    ordering = ["batch", "number"]
    read_roles = READERS


class BankResultViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """银行结果: GET lists what the bank said; POST ``{"results": [...]}`` is the bank's callback,
    recorded all-or-nothing (the same answers again change nothing)."""

    queryset = BankResult.objects.select_related("instruction")
    serializer_class = BankResultSerializer
    filterset_fields = {"outcome": ["exact"], "result_on": ["gte", "lte"], "instruction__number": ["exact"]}
    ordering = ["-recorded_at", "-id"]
    read_roles = READERS
    write_roles = FINANCE

    @extend_schema(request=ResultsInSerializer, responses={201: dict, 200: dict})  # 200: nothing new recorded
    def create(self, request, *args, **kwargs):
        ser = ResultsInSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        rows = [services.ResultRow(number=r["number"], outcome=r["result"], result_on=r["date"], amount=r["amount"],
                                   account_number=r["account_number"], bank_reference=r["bank_reference"],
                                   reason=r["reason"]) for r in ser.validated_data["results"]]
        done = services.results_record(rows=rows, channel="api", actor=request.user)
        return Response(done, status=status.HTTP_201_CREATED if done["created"] else status.HTTP_200_OK)


class CorrectionViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """收款信息更正: finance submits the corrected account of a returned instruction; another
    person (finance or supervisor) ``approve``s or ``reject``s it."""

    queryset = PayeeCorrection.objects.select_related("instruction", "submitted_by", "reviewed_by")
    serializer_class = CorrectionSerializer
    filterset_fields = {"status": ["exact"], "instruction__number": ["exact"]}
    ordering = ["-submitted_at", "-id"]
    read_roles = READERS
    write_roles = FINANCE
    action_roles = {"approve": REVIEWERS, "reject": REVIEWERS}

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.correction_submit(
            instruction_id=data["instruction"].pk, account_name=data["account_name"], bank_name=data["bank_name"],
            account_number=data["account_number"], evidence=data["evidence"], payee_kind=data.get("payee_kind"),
            actor=self.request.user)

    @extend_schema(request=CorrectionNoteSerializer, responses=CorrectionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        ser = CorrectionNoteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        c = services.correction_approve(correction_id=self.get_object().pk, note=ser.validated_data["note"],
                                        actor=request.user)
        return Response(CorrectionSerializer(c).data)

    @extend_schema(request=CorrectionNoteSerializer, responses=CorrectionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        ser = CorrectionNoteSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        c = services.correction_reject(correction_id=self.get_object().pk, note=ser.validated_data["note"],
                                       actor=request.user)
        return Response(CorrectionSerializer(c).data)


class ReconciliationView(APIView):
    """Per day: instructed = confirmed + failed + pending; and open instructions by age."""

    read_roles = READERS

    @extend_schema(parameters=[ReconciliationQuerySerializer], responses={200: dict})
    def get(self, request):
        ser = ReconciliationQuerySerializer(data=request.query_params)
        ser.is_valid(raise_exception=True)
        days = selectors.daily_reconciliation(user=request.user, **ser.validated_data)
        return Response(jsonable({"days": days, "open_by_age": selectors.open_by_age(user=request.user)}))


class ReminderView(APIView):
    """The daily reminder on demand: escalate instructions unconfirmed past the policy's days."""

    read_roles = READERS
    write_roles = FINANCE

    @extend_schema(request=AsOfSerializer, responses={200: dict})
    def post(self, request):
        ser = AsOfSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return Response(services.instructions_escalate(on=ser.validated_data.get("as_of"), actor=request.user))


class PersonBankAccountViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """救助金收款账户, addressed by the person's ID number: ``POST`` (multipart with
    ``evidence_file`` for a relative's account) records or replaces the person's account; a
    suspended account (bank return) changes only through a reviewed ``payee-corrections/``."""

    queryset = PersonBankAccount.objects.select_related("person")
    serializer_class = PersonBankAccountSerializer
    lookup_field = "person__id_number"
    lookup_url_kwarg = "id_number"
    filterset_fields = {"payee_kind": ["exact"], "suspended_at": ["isnull"]}
    ordering = ["person_id"]
    read_roles = READERS | {Role.WINDOW_CLERK}
    write_roles = FINANCE | {Role.WINDOW_CLERK}
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def create(self, request, *args, **kwargs):
        ser = self.get_serializer(data=request.data)
        ser.is_valid(raise_exception=True)
        d = ser.validated_data
        account = services.person_account_save(
            person=d["person"], payee_kind=d.get("payee_kind", "self"), account_name=d["account_name"],
            bank_name=d["bank_name"], account_number=d["account_number"], relation=d.get("relation", ""),
            evidence=d.get("evidence", ""), evidence_upload=d.get("evidence_file"), actor=request.user)
        return Response(self.get_serializer(account).data, status=status.HTTP_201_CREATED)
