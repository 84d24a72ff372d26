"""Scope resolution is cached per process without changing what anyone sees."""
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Person
from members.tests.factories import register
from yibao_site import scoping
from yibao_site.models import User


def test_a_bound_user_resolves_the_region_once_and_rebinding_takes_effect_at_once(shiyan, staff):
    mine, other = register(shiyan, township=0), register(shiyan, township=1)
    agent = User.objects.get(pk=staff["agent"].pk)
    assert list(scoping.scope_queryset(Person.objects.all(), agent)) == [mine]
    fresh = User.objects.get(pk=agent.pk)  # a new request loads the user again
    with CaptureQueriesContext(connection) as queries:
        assert list(scoping.scope_queryset(Person.objects.all(), fresh)) == [mine]
    assert len(queries) == 1  # the list itself; the township came from the cache
    User.objects.filter(pk=agent.pk).update(region=shiyan.townships[1])
    moved = User.objects.get(pk=agent.pk)
    assert list(scoping.scope_queryset(Person.objects.all(), moved)) == [other]
    assert scoping.can_see_township(moved, shiyan.townships[1]) and not scoping.can_see_township(
        moved, shiyan.townships[0])


def test_saving_a_region_forgets_the_cache(shiyan, staff):
    scoping.user_scope_region(User.objects.get(pk=staff["agent"].pk))
    assert scoping._REGIONS
    shiyan.townships[0].save()
    assert not scoping._REGIONS
