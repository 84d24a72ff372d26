from __future__ import annotations

from rest_framework import serializers

from yibao_site.api_base import MoneyField

from .models import (
    BankFile, BankResult, Instruction, InstructionBatch, PayeeCorrection, PayeeKind, PersonBankAccount, ResultOutcome,
)


def _username(user) -> str | None:
    return user.username if user else None


class InstructionSerializer(serializers.ModelSerializer):
    amount = MoneyField()
    batch = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Instruction
        fields = ["number", "batch", "purpose", "payee_kind", "payee_code", "payee_name", "account_name", "bank_name",
                  "account_number", "evidence", "amount", "memo", "status", "bank_reference", "result_on",
                  "failure_reason", "escalated_on", "released_at", "created_at"]
        read_only_fields = fields


class BatchSerializer(serializers.ModelSerializer):
    total_amount = MoneyField()
    signoff_threshold = MoneyField(allow_null=True)
    region = serializers.CharField(source="region.code")
    prepared_by = serializers.SerializerMethodField()
    approved_by = serializers.SerializerMethodField()
    sent_by = serializers.SerializerMethodField()

    class Meta:
        model = InstructionBatch
        fields = ["id", "purpose", "source_ref", "title", "region", "on", "status", "count", "total_amount",
                  "signoff_threshold", "signoff_required", "policy_version", "prepared_by", "prepared_at",
                  "approved_by", "approved_at", "sent_by", "sent_at", "created_at"]
        read_only_fields = fields

    def get_prepared_by(self, obj) -> str | None:
        return _username(obj.prepared_by)

    def get_approved_by(self, obj) -> str | None:
        return _username(obj.approved_by)

    def get_sent_by(self, obj) -> str | None:
        return _username(obj.sent_by)


class BatchDetailSerializer(BatchSerializer):
    instructions = InstructionSerializer(many=True, read_only=True)

    class Meta(BatchSerializer.Meta):
        fields = BatchSerializer.Meta.fields + ["instructions"]
        read_only_fields = fields


class ProduceFileSerializer(serializers.Serializer):
    layout = serializers.CharField(required=False, max_length=40, help_text="银行文件格式编码;省略为默认格式")


class BankFileSerializer(serializers.ModelSerializer):
    total_amount = MoneyField()
    layout = serializers.CharField(source="layout.code")
    produced_by = serializers.SerializerMethodField()
    sent_by = serializers.SerializerMethodField()

    class Meta:
        model = BankFile
        fields = ["id", "batch", "layout", "filename", "sha256", "count", "total_amount", "produced_by", "produced_at",
                  "sent_by", "sent_at"]
        read_only_fields = fields

    def get_produced_by(self, obj) -> str | None:
        return _username(obj.produced_by)

    def get_sent_by(self, obj) -> str | None:
        return _username(obj.sent_by)


class ResultInSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=40)
    account_number = serializers.CharField(max_length=40)
    amount = MoneyField()
    result = serializers.ChoiceField(choices=ResultOutcome.choices)
    bank_reference = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    date = serializers.DateField()
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ResultsInSerializer(serializers.Serializer):
    results = ResultInSerializer(many=True, allow_empty=False, max_length=10000)


class BankResultSerializer(serializers.ModelSerializer):
    instruction = serializers.CharField(source="instruction.number")

    class Meta:
        model = BankResult
        fields = ["id", "instruction", "outcome", "bank_reference", "result_on", "reason", "channel", "recorded_at"]
        read_only_fields = fields


class CorrectionSerializer(serializers.ModelSerializer):
    instruction = serializers.SlugRelatedField(slug_field="number", queryset=Instruction.objects.all())
    payee_kind = serializers.ChoiceField(choices=PayeeKind.choices, required=False)
    submitted_by = serializers.SerializerMethodField()
    reviewed_by = serializers.SerializerMethodField()

    class Meta:
        model = PayeeCorrection
        fields = ["id", "instruction", "account_name", "bank_name", "account_number", "payee_kind", "evidence",
                  "status", "submitted_by", "submitted_at", "reviewed_by", "reviewed_at", "review_note"]
        read_only_fields = ["id", "status", "submitted_by", "submitted_at", "reviewed_by", "reviewed_at", "review_note"]

    def get_submitted_by(self, obj) -> str | None:
        return _username(obj.submitted_by)

    def get_reviewed_by(self, obj) -> str | None:
        return _username(obj.reviewed_by)


class CorrectionNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class ReconciliationQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    purpose = serializers.ChoiceField(choices=["supplier", "assistance"], required=False)


class AsOfSerializer(serializers.Serializer):
    as_of = serializers.DateField(required=False)


class PersonBankAccountSerializer(serializers.ModelSerializer):
    """救助金收款账户 (multipart when a proof is uploaded): POST saves the person's account."""

    person = serializers.SlugRelatedField(  # members.Person, through the relation (payments is below members)
        slug_field="id_number", queryset=PersonBankAccount._meta.get_field("person").related_model.objects.all())
    payee_kind = serializers.ChoiceField(choices=[PayeeKind.SELF.value, PayeeKind.RELATIVE.value], default="self")
    evidence_file = serializers.FileField(write_only=True, required=False, help_text="近亲属账户的关系证明、委托书(PDF/JPG/PNG)")
    has_evidence_file = serializers.SerializerMethodField()

    class Meta:
        model = PersonBankAccount
        fields = ["person", "payee_kind", "account_name", "bank_name", "account_number", "relation", "evidence",
                  "evidence_file", "has_evidence_file", "evidence_name", "evidence_sha256", "suspended_at",
                  "suspended_reason"]
        read_only_fields = ["evidence_name", "evidence_sha256", "suspended_at", "suspended_reason"]
        extra_kwargs = {"person": {"validators": []}}

    def get_has_evidence_file(self, obj) -> bool:
        return bool(obj.evidence_file)

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            from yibao_site.scoping import scope_queryset

            fields["person"].queryset = scope_queryset(fields["person"].queryset, request.user)
        return fields
