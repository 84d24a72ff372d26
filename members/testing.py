"""Test helpers other apps' tests may use: the staff accounts members' services require.

Every members write service checks its caller (``require_actor``); tests that set data up
through the services pass one of these (one user per role, created on first use in the
test's database)."""
from __future__ import annotations

from yibao_site.models import Role, User


def staff_actor(role: str = Role.WINDOW_CLERK) -> User:
    """An active staff user with ``role`` (the same one for every call in a test)."""
    user, _ = User.objects.get_or_create(username=f"members-test-{role}", defaults={"role": role, "is_staff": True})
    return user


def clerk() -> User:
    """A window clerk: registers persons, enrols them, records identities and off-site registrations."""
    return staff_actor(Role.WINDOW_CLERK)


def reviewer() -> User:
    """A reviewer: grants and revokes assistance entitlements."""
    return staff_actor(Role.REVIEWER)


def supervisor() -> User:
    return staff_actor(Role.SUPERVISOR)


def finance() -> User:
    return staff_actor(Role.FINANCE)
