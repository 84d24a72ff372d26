import random
from datetime import date

from members import demo
from members.models import Enrollment, Identity, Person, Relative, SubsidyBatch


def test_demo_seed_builds_members_data_and_a_second_run_changes_nothing(db):
    from yibao_site.demo import DemoContext, build_jurisdiction, build_staff
    from yibao_site.packs import pack_load

    j = build_jurisdiction()
    pack_load(name="shiyan-2022", region=j.city)
    staff = build_staff(j, "x-demo-pass-1")

    def ctx():
        return DemoContext(rng=random.Random(7), persons=300, jurisdiction=j, staff=staff, today=date(2026, 6, 15),
                           log=lambda m: None)

    demo.seed(ctx())
    counts = (Person.objects.count(), Enrollment.objects.count(), Identity.objects.count(), Relative.objects.count())
    assert counts[0] >= 290 and counts[1] > 600 and counts[2] > 10 and counts[3] > 100
    assert Enrollment.objects.filter(waiting_period=True).exists()
    assert Enrollment.objects.filter(scheme="employee").exists()
    assert SubsidyBatch.objects.get(year=2026).count > 0
    history = Person.history.count() + Enrollment.history.count()
    demo.seed(ctx())
    assert (Person.objects.count(), Enrollment.objects.count(), Identity.objects.count(),
            Relative.objects.count()) == counts
    assert Person.history.count() + Enrollment.history.count() == history
