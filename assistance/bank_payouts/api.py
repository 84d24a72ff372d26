"""API of assistance payout batches: finance creates the batch of a region (``POST {region, on}``)
and takes it through the bank steps (``prepare``, ``approve`` by a supervisor, ``produce-file``;
the file is downloaded and marked sent under ``bank-files/``, the bank's answers go to
``bank-results/``); the queue shows what is owed per person and why it would be held."""
from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from payments import public as pay
from payments.models import BankFileLayout
from payments.public import BankFileSerializer, BatchSerializer, ProduceFileSerializer
from yibao_site.api_base import ScopedQuerysetMixin
from yibao_site.models import Role

from ..models import PayoutBatch, PayoutLine
from . import selectors, services
from .serializers import PayoutBatchDetailSerializer, PayoutBatchSerializer, QueueQuerySerializer, QueueRowSerializer

FINANCE = frozenset({Role.FINANCE})
SUPERVISOR = frozenset({Role.SUPERVISOR})
READERS = frozenset({Role.FINANCE, Role.SUPERVISOR})


class PayoutBatchViewSet(ScopedQuerysetMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """救助金代发批次: one per region and call; its instructions are a ``payment-batches/`` batch."""

    queryset = PayoutBatch.objects.select_related("region", "created_by", "instruction_batch").prefetch_related(
        Prefetch("lines", queryset=PayoutLine.objects.select_related("person", "instruction")))
    serializer_class = PayoutBatchSerializer
    filterset_fields = {"on": ["gte", "lte"], "region__code": ["exact"], "instruction_batch__status": ["exact"]}
    ordering = ["-on", "-id"]
    read_roles = READERS
    write_roles = FINANCE
    action_roles = {"prepare": FINANCE, "approve": SUPERVISOR, "produce_file": FINANCE}

    def get_serializer_class(self):
        return PayoutBatchDetailSerializer if self.action in ("retrieve", "create") else super().get_serializer_class()

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.payout_batch_create(region=data["region"], on=data["on"], actor=self.request.user)

    def _bank_batch(self):
        batch = self.get_object()
        if batch.instruction_batch_id is None:
            raise DRFValidationError({"detail": ["该批次没有可发送的指令(全部暂缓)。"]})
        return batch.instruction_batch_id

    @extend_schema(request=None, responses=BatchSerializer)
    @action(detail=True, methods=["post"])
    def prepare(self, request, pk=None):
        return Response(BatchSerializer(pay.batch_prepare(batch_id=self._bank_batch(), actor=request.user)).data)

    @extend_schema(request=None, responses=BatchSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return Response(BatchSerializer(pay.batch_approve(batch_id=self._bank_batch(), actor=request.user)).data)

    @extend_schema(request=ProduceFileSerializer, responses={201: BankFileSerializer})
    @action(detail=True, methods=["post"], url_path="produce-file")
    def produce_file(self, request, pk=None):
        ser = ProduceFileSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        code = ser.validated_data.get("layout")
        layout = get_object_or_404(BankFileLayout, code=code) if code else None
        bank_file = pay.bank_file_produce(batch_id=self._bank_batch(), layout=layout, actor=request.user)
        return Response(BankFileSerializer(bank_file).data, status=status.HTTP_201_CREATED)


class PayoutQueueView(APIView):
    """待代发队列: per person of ``?region=CODE``, what is owed and not yet instructed, and the
    reason the next batch would hold it (empty: it will be instructed)."""

    read_roles = READERS

    @extend_schema(parameters=[QueueQuerySerializer], responses=QueueRowSerializer(many=True))
    def get(self, request):
        ser = QueueQuerySerializer(data=request.query_params)
        ser.is_valid(raise_exception=True)
        rows = selectors.payout_queue(ser.validated_data["region"], limit=1000, user=request.user)
        return Response(QueueRowSerializer(rows, many=True).data)
