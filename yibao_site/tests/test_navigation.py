"""The sidebar is assembled from each app's ``navigation.py``; every link resolves and each role
sees only what it may use."""
import pytest
from django.test import RequestFactory
from django.utils.module_loading import import_string

from yibao_site.models import Role, User
from yibao_site.navigation import sections


def _visible(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    titles = []
    for sec in sections():
        for it in sec["items"]:
            str(it["link"])  # resolves (a NoReverseMatch here is a broken link)
            if import_string(it["permission"])(request):
                titles.append(str(it["title"]))
    return titles


@pytest.mark.django_db
def test_sections_in_order_and_scoped_by_role():
    names = [str(s["title"]) for s in sections()]
    assert names == ["参保", "门诊慢特病", "结算", "医疗救助", "集采结算", "银行支付", "系统"]
    finance = User.objects.create_user("nav_f", role=Role.FINANCE, is_staff=True)
    clerk = User.objects.create_user("nav_c", role=Role.WINDOW_CLERK, is_staff=True)
    agent = User.objects.create_user("nav_a", role=Role.TOWNSHIP_AGENT, is_staff=False)
    assert "支付对账" in _visible(finance) and "手工报销" not in _visible(finance)
    assert "手工报销" in _visible(clerk) and "支付对账" not in _visible(clerk)
    assert "工作人员" not in _visible(clerk)
    assert _visible(agent) == []
