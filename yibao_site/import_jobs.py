"""Large imports in the background: an ``ImportJob`` row per upload, run by a Celery task,
watched by the staff member on a progress page, with the engine's all-or-nothing report.

1. **Submit** (``job_submit``): the upload is bounded as every import is (``imports.check_upload``:
   size, unpacked size, rows), stored under ``MEDIA_ROOT/imports/``, and one job row is written;
   the task is enqueued once the row is committed.  The same file (by SHA-256) of the same
   import kind by the same person while an earlier one is still queued or running is not
   imported twice: the earlier job is returned (a partial unique constraint on the key makes
   that hold under a race too).
2. **Run** (``job_run``, the task ``yibao_site.import_job_run``): the file is read and the
   importer's ``run`` validates every row, then writes them in one transaction — or writes
   nothing and reports every bad row by the file's row number (``imports.BulkImporter.run``).
   Progress (rows validated, rows written) is stored on the row as it goes; the page polls it
   (``job_payload`` as JSON).  Rows written are visible while the write transaction is still
   open only on PostgreSQL (a second, autocommitted connection records them); elsewhere the
   bar waits at the half-way mark until the transaction commits.
3. **A worker killed mid-run** leaves its job ``running``; such a job is *stale* — on PostgreSQL
   as soon as its session advisory lock is free (the lock dies with the worker's connection),
   elsewhere once its heartbeat is older than ``JOBS_STALE_AFTER_SECONDS`` (the payment run's
   rule, ``procurement.services.payment_runs_stale``).  A stale job is marked failed by the
   beat tick ``yibao_site.import_jobs_fail_stale``, and at once by the progress page when it
   polls one; a redelivered message (``acks_late``) resumes a stale job once instead.  The
   write transaction died with the worker, so nothing of it was written.
4. **Who sees a job**: the person who uploaded it; a supervisor sees those of their region (all
   when unbound); nobody else, not even another clerk (404).

Small files (``IMPORT_BACKGROUND_ROWS`` rows or fewer, 1 000 by default) keep the synchronous
preview-then-confirm page of django-import-export; larger ones go to a job.
"""
from __future__ import annotations

import hashlib
import logging
import zlib
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, connections, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

log = logging.getLogger(__name__)

RUN_TASK = "yibao_site.import_job_run"
FAIL_STALE_TASK = "yibao_site.import_jobs_fail_stale"
LOCK_NAMESPACE = zlib.crc32(b"yibao_site.import_job") - 2 ** 31  # a signed int4 for pg_advisory_lock(int, int)
REPORT_MAX_ERRORS = 5000  # errors kept on the row (the summary counts them all)
MAX_ATTEMPTS = 2  # a redelivered message resumes a stale job once, then it is failed


class JobState(models.TextChoices):
    QUEUED = "queued", gettext_lazy("排队中")
    RUNNING = "running", gettext_lazy("导入中")
    DONE = "done", gettext_lazy("已完成")
    REJECTED = "rejected", gettext_lazy("有错误,未写入")
    FAILED = "failed", gettext_lazy("已中断")


ACTIVE = (JobState.QUEUED, JobState.RUNNING)
FINISHED = (JobState.DONE, JobState.REJECTED, JobState.FAILED)

STAGE_LABELS = {
    "": gettext_lazy("等待后台处理"),
    "read": gettext_lazy("正在读取文件"),
    "validate": gettext_lazy("正在逐行校验"),
    "write": gettext_lazy("正在写入(全部成功才生效)"),
}


class ImportJob(models.Model):
    """One background import: who, what, which file, how far, and the report."""

    kind = models.CharField(gettext_lazy("导入类型"), max_length=40)  # imports.REGISTRY name
    title = models.CharField(gettext_lazy("导入内容"), max_length=100)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=gettext_lazy("提交人"), on_delete=models.PROTECT,
                              related_name="import_jobs")
    region = models.ForeignKey("yibao_site.Region", verbose_name=gettext_lazy("提交人所属区划"), null=True, blank=True,
                               on_delete=models.PROTECT, related_name="+")
    file = models.FileField(gettext_lazy("文件"), upload_to="imports/%Y/%m/", blank=True)
    original_name = models.CharField(gettext_lazy("文件名"), max_length=255)
    file_sha256 = models.CharField(gettext_lazy("文件摘要"), max_length=64)
    key = models.CharField(gettext_lazy("幂等键"), max_length=64, db_index=True)
    dry_run = models.BooleanField(gettext_lazy("试导入"), default=False)
    state = models.CharField(gettext_lazy("状态"), max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    stage = models.CharField(gettext_lazy("阶段"), max_length=10, blank=True)
    rows_total = models.PositiveIntegerField(gettext_lazy("总行数"), default=0)
    rows_validated = models.PositiveIntegerField(gettext_lazy("已校验行数"), default=0)
    rows_written = models.PositiveIntegerField(gettext_lazy("已写入行数"), default=0)
    created = models.PositiveIntegerField(gettext_lazy("新增"), default=0)
    updated = models.PositiveIntegerField(gettext_lazy("更新"), default=0)
    unchanged = models.PositiveIntegerField(gettext_lazy("未变"), default=0)
    error_count = models.PositiveIntegerField(gettext_lazy("错误数"), default=0)
    errors = models.JSONField(gettext_lazy("错误报告"), default=list, blank=True)
    summary = models.TextField(gettext_lazy("结果"), blank=True)
    attempts = models.PositiveSmallIntegerField(gettext_lazy("运行次数"), default=0)
    submitted_at = models.DateTimeField(gettext_lazy("提交时间"), default=timezone.now)
    started_at = models.DateTimeField(gettext_lazy("开始时间"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(gettext_lazy("最近进度时间"), null=True, blank=True)
    finished_at = models.DateTimeField(gettext_lazy("完成时间"), null=True, blank=True)

    SCOPE_TOWNSHIP = None  # seen by its submitter and supervisors only (visible_jobs)

    class Meta:
        app_label = "yibao_site"
        verbose_name = gettext_lazy("后台导入任务")
        verbose_name_plural = gettext_lazy("后台导入任务")
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(state__in=["queued", "running"]),
                                    name="import_job_one_active_per_key"),
        ]
        indexes = [models.Index(fields=["actor", "kind", "-submitted_at"]),
                   models.Index(fields=["state", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.title} {self.original_name} ({self.get_state_display()})"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def percent(self) -> int:
        """Validation is the first half of the bar and writing the second (a dry run: all of it);
        a job that ran to its end — imported, or rejected with its report — fills it."""
        if self.state in (JobState.DONE, JobState.REJECTED):
            return 100
        total = self.rows_total or 0
        if not total:
            return 0
        validated = min(self.rows_validated, total) / total
        if self.dry_run:
            return int(validated * 100)
        return int(validated * 50 + min(self.rows_written, total) / total * 50)


# ── settings ────────────────────────────────────────────────────────────────────────────────

def background_threshold() -> int:
    """Files with more rows than this import in the background (``IMPORT_BACKGROUND_ROWS``)."""
    return int(getattr(settings, "IMPORT_BACKGROUND_ROWS", 1000))


def _stale_after_seconds() -> int:
    return int(getattr(settings, "JOBS_STALE_AFTER_SECONDS", 1800))


# ── submit ──────────────────────────────────────────────────────────────────────────────────

def job_key(file_sha256: str, kind: str, actor_id: int, dry_run: bool) -> str:
    return hashlib.sha256(f"{file_sha256}:{kind}:{actor_id}:{int(dry_run)}".encode()).hexdigest()


def job_submit(*, importer, data: bytes, filename: str, actor, dry_run: bool = False) -> tuple[ImportJob, bool]:
    """Store the file and enqueue its import; return ``(job, created)``.

    ``importer`` is a ``BulkImporter`` subclass.  The file is bounded first (a too-large file or
    a zip bomb raises ``ValidationError`` and stores nothing).  While a job of the same file,
    kind and person is queued or running, that job is returned and nothing is enqueued.
    """
    from .actors import require_actor
    from .imports import check_upload
    from .models import Role
    from .scoping import user_scope_region

    # Which import a role may run is the admin's check (``has_import_permission``); here: a
    # signed-in, active member of staff, never a scheduled job (a job row names a person).
    require_actor(actor, Role.values)
    check_upload(data, filename)
    digest = hashlib.sha256(data).hexdigest()
    key = job_key(digest, importer.name, actor.pk, dry_run)
    running = ImportJob.objects.filter(key=key, state__in=ACTIVE).first()
    if running is not None:
        return running, False
    region = user_scope_region(actor)
    job = ImportJob(kind=importer.name, title=str(importer.verbose_name or importer.name), actor=actor,
                    region=region, original_name=(filename or "upload")[-255:], file_sha256=digest, key=key,
                    dry_run=dry_run, rows_total=0)
    suffix = ".xlsx" if filename.lower().endswith((".xlsx", ".xlsm")) or data[:2] == b"PK" else ".csv"
    try:
        with transaction.atomic():
            job.file.save(f"{digest[:16]}{suffix}", ContentFile(data), save=False)
            job.save()
    except IntegrityError:
        job.file.delete(save=False)
        running = ImportJob.objects.filter(key=key, state__in=ACTIVE).first()
        if running is None:
            raise
        return running, False
    transaction.on_commit(lambda: enqueue(job.pk))
    return job, True


def enqueue(job_id: int) -> None:
    from .tasks import import_job_run

    import_job_run.delay(job_id)


# ── run ─────────────────────────────────────────────────────────────────────────────────────

def _claim(job_id: int) -> ImportJob | None:
    """Take the job for this worker: queued → running; a stale running job is resumed once."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.finished:
            return None
        if job.state == JobState.RUNNING:
            if not _is_stale(job):
                return None  # another worker has it
            if job.attempts >= MAX_ATTEMPTS:
                _fail(job, _("后台处理多次中断,未写入任何数据。请重新上传文件。"))
                return None
            log.warning("import job %s was left running by a dead worker: resuming it", job.pk)
        now = timezone.now()
        job.state, job.stage, job.attempts = JobState.RUNNING, "read", job.attempts + 1
        job.started_at, job.heartbeat_at = job.started_at or now, now
        job.rows_validated = job.rows_written = 0
        job.save(update_fields=["state", "stage", "attempts", "started_at", "heartbeat_at", "rows_validated",
                                "rows_written"])
        return job


def job_run(job_id: int) -> ImportJob | None:
    """Run one job to its end (the Celery task's body); running it again changes nothing."""
    with _job_lock(job_id) as lock:
        if not lock.acquired:  # another live worker runs it
            return ImportJob.objects.filter(pk=job_id).first()
        job = _claim(job_id)
        if job is None:
            return ImportJob.objects.filter(pk=job_id).first()
        try:
            _run(job)
        except Exception as exc:  # the job must never stay ``running`` because of a bug or a broken file
            log.exception("import job %s failed", job.pk)
            job.refresh_from_db()
            if not job.finished:
                _fail(job, _("导入出错,未写入任何数据:%(error)s") % {"error": str(exc)[:300]})
    job.refresh_from_db()
    return job


def _run(job: ImportJob) -> None:
    from django.core.exceptions import ValidationError

    from .imports import RowError, importer_for

    importer_cls = importer_for(job.kind)
    actor = job.actor

    def read(rows: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(rows_total=rows, stage="validate", heartbeat_at=timezone.now())
        job.rows_total = rows

    def progress(stage: str, done: int, total: int) -> None:
        _progress(job.pk, stage, done)

    importer = importer_cls(actor=actor, user=actor)
    try:
        with job.file.open("rb") as handle:
            data = handle.read()
        # The command's door: a plain CSV may be taken by PostgreSQL itself (no rows read here).
        report = importer.run_file(data, job.original_name, dry_run=job.dry_run, actor=actor, progress=progress,
                                   on_read=read)
    except ValidationError as exc:
        _finish(job, importer_cls, [], errors=[RowError(0, "", m) for m in exc.messages])
        return
    _finish(job, importer_cls, importer._map_headers(importer.rows), report=report)


def _progress(job_id: int, stage: str, done: int) -> None:
    now = timezone.now()
    if stage == "validate":
        ImportJob.objects.filter(pk=job_id).update(stage=stage, rows_validated=done, heartbeat_at=now)
        return
    # Writing: inside the importer's one transaction, invisible to the page until it commits.
    # On PostgreSQL a second, autocommitted connection records the count (SKIP LOCKED: never
    # waits on a row this transaction holds); elsewhere the bar waits until the end.
    if connection.vendor != "postgresql":
        return
    side = connections.create_connection("default")
    try:
        with side.cursor() as cursor:
            table = ImportJob._meta.db_table
            cursor.execute(
                f'UPDATE "{table}" SET stage = %s, rows_validated = rows_total, rows_written = %s, heartbeat_at = %s '
                f'WHERE id IN (SELECT id FROM "{table}" WHERE id = %s FOR UPDATE SKIP LOCKED)',
                [stage, done, now, job_id])
    except Exception:  # progress is a courtesy; the import goes on
        log.warning("import job %s: could not record write progress", job_id, exc_info=True)
    finally:
        side.close()


def _finish(job: ImportJob, importer_cls, mapped_rows: list[dict], *, report=None, errors=None) -> None:
    from .imports import ImportReport

    if report is None:
        report = ImportReport(resource=job.title, total=0, errors=list(errors or []), dry_run=job.dry_run)
    listed = []
    for err in report.errors[:REPORT_MAX_ERRORS]:
        row = mapped_rows[err.row - 2] if 2 <= err.row < len(mapped_rows) + 2 else {}
        known = err.field in importer_cls.columns
        value = row.get(err.field) if err.field else None
        listed.append({"row": err.row, "column": importer_cls.column_label(err.field) if known else (err.field or ""),
                       "value": "" if value is None else str(value), "message": err.message})
    job.state = JobState.DONE if report.ok else JobState.REJECTED
    job.stage = ""
    job.rows_total = report.total
    job.rows_validated = report.total
    job.rows_written = report.total if report.ok and not job.dry_run else 0
    job.created, job.updated, job.unchanged = report.created, report.updated, report.unchanged
    job.error_count, job.errors = len(report.errors), listed
    job.summary = report.summary()
    job.finished_at = job.heartbeat_at = timezone.now()
    job.save(update_fields=["state", "stage", "rows_total", "rows_validated", "rows_written", "created", "updated",
                            "unchanged", "error_count", "errors", "summary", "finished_at", "heartbeat_at"])
    _drop_file(job)


def _fail(job: ImportJob, message: str) -> None:
    job.state, job.stage, job.summary = JobState.FAILED, "", message
    job.created = job.updated = job.unchanged = 0
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "stage", "summary", "created", "updated", "unchanged", "finished_at"])
    _drop_file(job)


def _drop_file(job: ImportJob) -> None:
    """A finished job keeps its report, not the file (ID numbers do not linger on disk)."""
    if job.file:
        try:
            job.file.delete(save=False)
        except OSError:
            log.warning("import job %s: could not delete %s", job.pk, job.file.name)
        ImportJob.objects.filter(pk=job.pk).update(file="")


class _job_lock:
    """The job's session advisory lock on PostgreSQL (released with the connection if the
    worker dies: that is how a dead run is told from a slow one); nothing elsewhere."""

    def __init__(self, job_id: int) -> None:
        self.key = [LOCK_NAMESPACE, job_id % 2 ** 31]
        self.acquired = True

    def __enter__(self):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", self.key)
                self.acquired = bool(cursor.fetchone()[0])
        return self

    def __exit__(self, *exc) -> None:
        if connection.vendor == "postgresql" and self.acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", self.key)
            except Exception:  # the connection is gone, and the session lock with it
                log.warning("import job lock: connection lost before unlock")


# ── jobs left behind by a dead worker ───────────────────────────────────────────────────────

def _is_stale(job: ImportJob) -> bool:
    if job.state != JobState.RUNNING:
        return False
    if connection.vendor != "postgresql":
        cutoff = timezone.now() - timedelta(seconds=_stale_after_seconds())
        return (job.heartbeat_at or job.started_at or job.submitted_at) < cutoff
    key = [LOCK_NAMESPACE, job.pk % 2 ** 31]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        free = cursor.fetchone()[0]
        if free:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    return bool(free)


STALE_MESSAGE = gettext_lazy("后台处理中断(处理进程已停止),未写入任何数据。请重新上传文件。")


def jobs_stale() -> list[ImportJob]:
    """Return the jobs left ``running`` by a worker that died (see the module docstring)."""
    return [job for job in ImportJob.objects.filter(state=JobState.RUNNING).order_by("pk") if _is_stale(job)]


def jobs_fail_stale() -> list[ImportJob]:
    """Mark every stale job failed (the beat tick); each is re-checked under its row lock."""
    failed = []
    for stale in jobs_stale():
        with transaction.atomic():
            job = ImportJob.objects.select_for_update().get(pk=stale.pk)
            if _is_stale(job):
                log.warning("import job %s was left running by a dead worker: failed", job.pk)
                _fail(job, str(STALE_MESSAGE))
                failed.append(job)
    return failed


def job_refresh(job: ImportJob) -> ImportJob:
    """The job as the page should show it: a stale one is failed on the spot."""
    if job.state == JobState.RUNNING and _is_stale(job):
        with transaction.atomic():
            locked = ImportJob.objects.select_for_update().get(pk=job.pk)
            if _is_stale(locked):
                _fail(locked, str(STALE_MESSAGE))
        job.refresh_from_db()
    return job


# ── who sees what ───────────────────────────────────────────────────────────────────────────

def visible_jobs(user):
    """The submitter's own jobs; a supervisor's region's (all when unbound; superusers all)."""
    from .models import Role
    from .scoping import user_scope_region

    jobs = ImportJob.objects.all()
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return jobs.none()
    if user.is_superuser and user.role != Role.TOWNSHIP_AGENT:
        return jobs
    if user.role == Role.SUPERVISOR:
        region = user_scope_region(user)
        if region is None:
            return jobs
        return jobs.filter(Q(actor=user) | Q(region__path__startswith=region.path))
    return jobs.filter(actor=user)


def job_payload(job: ImportJob) -> dict:
    """What the progress page polls (labels in the request's language)."""
    if job.finished:
        stage = job.get_state_display()
    elif job.state == JobState.RUNNING and job.stage == "validate" and job.rows_total \
            and job.rows_validated >= job.rows_total and not job.dry_run:
        stage = STAGE_LABELS["write"]  # every row checked: the write transaction is under way
    else:
        stage = STAGE_LABELS.get(job.stage if job.state == JobState.RUNNING else "", STAGE_LABELS[""])
    done = job.rows_written if job.stage == "write" else job.rows_validated
    return {"id": job.pk, "state": job.state, "state_label": str(job.get_state_display()), "stage": job.stage,
            "stage_label": str(stage), "rows_total": job.rows_total, "rows_done": done,
            "rows_validated": job.rows_validated, "rows_written": job.rows_written, "percent": job.percent,
            "finished": job.finished, "summary": job.summary, "error_count": job.error_count}


def report_xlsx(job: ImportJob) -> bytes:
    """The row-numbered error report as a workbook (row numbers are the file's own)."""
    from .xlsx import Sheet, workbook_bytes

    sheet = Sheet(_("错误报告"), [_("行号"), _("列"), _("填写的值"), _("错误")])
    for err in job.errors:
        sheet.rows.append([err["row"] or _("文件"), err["column"], err["value"], err["message"]])
    summary = Sheet(_("结果"), [_("文件名"), _("结果")], [[job.original_name, job.summary]])
    return workbook_bytes([sheet, summary])


# ── the admin's pages (ScopedImportExportAdmin wires them under each import) ────────────────

def _kinds(model_admin, request) -> set[str]:
    from .imports import BulkImporter

    return {c.name for c in model_admin.get_import_resource_classes(request) if issubclass(c, BulkImporter)}


def _job_or_404(model_admin, request, job_id: int) -> ImportJob:
    from django.http import Http404

    job = visible_jobs(request.user).filter(pk=job_id, kind__in=_kinds(model_admin, request)).first()
    if job is None:
        raise Http404(_("没有这个导入任务,或您无权查看。"))
    return job_refresh(job)


def maybe_background(model_admin, request):
    """On an import POST whose file holds more than ``IMPORT_BACKGROUND_ROWS`` rows (or an
    unknown number), submit a job and redirect to its progress page; otherwise ``None`` (the
    synchronous preview-then-confirm page goes on)."""
    from django.contrib import messages
    from django.core.exceptions import ValidationError
    from django.http import HttpResponseRedirect
    from django.urls import reverse

    from .imports import BulkImporter, estimate_rows

    if request.method != "POST" or not model_admin.has_import_permission(request):
        return None
    form = model_admin.create_import_form(request)
    if not form.is_valid():
        return None
    upload = form.cleaned_data["import_file"]
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    rows = estimate_rows(data, upload.name)
    if rows is not None and rows <= background_threshold():
        return None
    importer = model_admin.choose_import_resource_class(form, request)
    if not (isinstance(importer, type) and issubclass(importer, BulkImporter)):
        return None
    try:
        job, created = job_submit(importer=importer, data=data, filename=upload.name, actor=request.user)
    except ValidationError:
        return None  # the synchronous page shows the bound that failed, as for a small file
    if created:
        messages.info(request, _("文件已提交后台导入,可留在本页查看进度,也可稍后从导入页面回来查看。"))
    else:
        messages.warning(request, _("同一文件正在导入中,未重复提交;以下是正在进行的导入。"))
    meta = model_admin.model._meta
    return HttpResponseRedirect(reverse(f"admin:{meta.app_label}_{meta.model_name}_import_job", args=[job.pk]))


def recent_jobs(model_admin, request, limit: int = 5) -> list[ImportJob]:
    return list(visible_jobs(request.user).filter(actor=request.user, kind__in=_kinds(model_admin, request))[:limit])


def job_page(model_admin, request, job_id: int):
    from django.template.response import TemplateResponse

    from .admin_base import page_context

    job = _job_or_404(model_admin, request, job_id)
    title = _("后台导入:%(title)s") % {"title": job.title}
    meta = model_admin.model._meta
    context = page_context(model_admin, request, title, job=job, payload=job_payload(job),
                           errors_shown=job.errors[:200], url_prefix=f"admin:{meta.app_label}_{meta.model_name}",
                           threshold=background_threshold())
    return TemplateResponse(request, "admin/import_export/import_job.html", context)


def job_status(model_admin, request, job_id: int):
    from django.http import JsonResponse

    response = JsonResponse(job_payload(_job_or_404(model_admin, request, job_id)))
    response["Cache-Control"] = "no-store"
    return response


def job_report(model_admin, request, job_id: int):
    from urllib.parse import quote

    from django.http import HttpResponse

    from .xlsx import XLSX_TYPE

    job = _job_or_404(model_admin, request, job_id)
    response = HttpResponse(report_xlsx(job), content_type=XLSX_TYPE)
    name = f"{job.title}-导入报告-{job.pk}.xlsx"
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response
