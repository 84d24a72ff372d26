from datetime import date

import pytest
from django.core.exceptions import ValidationError

from members import services
from members.models import Person
from yibao_site.testing import make_id_number

from .factories import register
from members.testing import clerk


def test_register_derives_birth_date_sex_and_township(shiyan):
    idn = make_id_number("420302", date(1990, 1, 31), 7, "F")
    person = services.person_register(actor=clerk(), id_number=idn, name=" 李四 ", village_code=shiyan.village(1, 0).code,
                                      phone="13800000000")
    person.refresh_from_db()
    assert (person.birth_date, person.sex, person.name) == (date(1990, 1, 31), "F", "李四")
    assert person.township == shiyan.townships[1]
    assert person.id_outside_county is False


def test_lowercase_x_check_character_is_accepted_and_stored_upper(shiyan):
    # Find a sequence whose check character is X.
    idn = next(i for i in (make_id_number("420302", date(1985, 3, 3), s) for s in range(1, 200)) if i.endswith("X"))
    person = services.person_register(actor=clerk(), id_number=idn.lower(), name="王五", village_code=shiyan.village().code)
    assert person.id_number == idn


@pytest.mark.parametrize("bad,code", [
    ("42030219900131", "format"),            # too short
    ("420302199001310017", "checksum"),       # wrong check character
])
def test_invalid_ids_are_refused_with_an_id_number_error(shiyan, bad, code):
    with pytest.raises(ValidationError) as exc:
        services.person_register(actor=clerk(), id_number=bad, name="甲", village_code=shiyan.village().code)
    assert "id_number" in exc.value.message_dict
    assert Person.objects.count() == 0


def test_impossible_birth_date_is_refused(shiyan):
    from yibao_site.idnumbers import check_character

    body = "42030219900230001"  # 30 February
    with pytest.raises(ValidationError) as exc:
        services.person_register(actor=clerk(), id_number=body + check_character(body), name="甲", village_code=shiyan.village().code)
    assert "出生日期" in exc.value.message_dict["id_number"][0]


def test_unknown_province_prefix_is_refused(shiyan):
    with pytest.raises(ValidationError) as exc:
        services.person_register(actor=clerk(), id_number=make_id_number("990302", date(1990, 1, 1)), name="甲",
                                 village_code=shiyan.village().code)
    assert "省级" in exc.value.message_dict["id_number"][0]


def test_id_from_another_county_is_accepted_and_flagged(shiyan):
    person = register(shiyan, county="110105")
    assert person.id_outside_county is True


def test_village_must_exist_and_be_a_village(shiyan):
    idn = make_id_number("420302", date(1990, 1, 1))
    with pytest.raises(ValidationError) as exc:
        services.person_register(actor=clerk(), id_number=idn, name="甲", village_code=shiyan.townships[0].code)
    assert "village" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.person_register(actor=clerk(), id_number=idn, name="甲", village_code="999999999999")
    assert "village" in exc.value.message_dict


def test_second_registration_of_same_id_is_refused(shiyan):
    person = register(shiyan)
    with pytest.raises(ValidationError) as exc:
        services.person_register(actor=clerk(), id_number=person.id_number, name="乙", village_code=shiyan.village().code)
    assert "已登记" in exc.value.message_dict["id_number"][0]


def test_registration_is_audited_with_actor(shiyan, staff):
    idn = make_id_number("420302", date(1990, 1, 1))
    person = services.person_register(id_number=idn, name="甲", village_code=shiyan.village().code, actor=staff["clerk"])
    record = person.history.get()
    assert record.history_user == staff["clerk"] and record.history_change_reason == "参保登记"


def test_update_moves_township_with_village(shiyan):
    person = register(shiyan)
    services.person_update(actor=clerk(), person=person, village_code=shiyan.village(1, 1).code, phone="0719-1234567")
    person.refresh_from_db()
    assert person.township == shiyan.townships[1] and person.phone == "0719-1234567"


def test_relatives_check_ages_and_reverse_consistency(shiyan):
    father = register(shiyan, birth=date(1960, 1, 1))
    son = register(shiyan, birth=date(1990, 1, 1))
    with pytest.raises(ValidationError):
        services.relative_add(actor=clerk(), person=son, relative=father, relation="child")  # father is not younger
    services.relative_add(actor=clerk(), person=son, relative=father, relation="parent")
    with pytest.raises(ValidationError) as exc:
        services.relative_add(actor=clerk(), person=father, relative=son, relation="sibling")
    assert "矛盾" in exc.value.message_dict["relation"][0]
    services.relative_add(actor=clerk(), person=father, relative=son, relation="child")


def test_an_id_number_registered_twice_is_refused_by_its_one_index(shiyan):
    """``id_number`` is unique by a single-field UniqueConstraint (one pattern-ops index on
    PostgreSQL that also serves the prefix search): ``full_clean`` reports a second person with
    the same ID under the field with the field's "already exists" message, and the database
    refuses the row."""
    from django.db import IntegrityError, connection, transaction

    person = register(shiyan)
    twin = Person(id_number=person.id_number, name="乙", sex=person.sex, birth_date=person.birth_date,
                  village=person.village, township=person.township)
    with pytest.raises(ValidationError) as exc:
        twin.full_clean()
    assert list(exc.value.message_dict) == ["id_number"]
    assert exc.value.error_dict["id_number"][0].code == "unique"
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'members_person' AND indexdef LIKE "
                           "'%%(id_number%%'")
            assert [r[0] for r in cursor.fetchall()] == [
                "CREATE UNIQUE INDEX members_person_id_number_key ON public.members_person USING btree "
                "(id_number varchar_pattern_ops)"]
