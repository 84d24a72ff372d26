"""Home-page items of members (待办): draft subsidy batches waiting for a supervisor."""
from django.urls import reverse
from django.utils.translation import gettext as _

from yibao_site import dashboard
from yibao_site.models import Role

from .models import BatchStatus, SubsidyBatch


@dashboard.register
def subsidy_batches_to_confirm(request):
    user = request.user
    if not user.is_authenticated or not user.has_role(Role.SUPERVISOR, Role.WINDOW_CLERK):
        return []
    count = SubsidyBatch.objects.filter(status=BatchStatus.DRAFT).count()
    if not count:
        return []
    url = reverse("admin:members_subsidybatch_changelist") + "?status__exact=draft"
    return [dashboard.Item(title=_("资助参保批次待确认"), count=count, url=url, level="warning", group=_("参保登记与缴费"))]
