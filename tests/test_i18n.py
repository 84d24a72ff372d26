"""Chinese by default, English on request (issue 2 item 7; the brief's "English is available").

Every user-facing string is ``gettext`` with the Simplified Chinese text as its msgid; the English
catalogue is ``locale/en/LC_MESSAGES/django.po`` (compiled to the committed ``django.mo``).
"""
import re
from pathlib import Path

import pytest
from django.conf import settings

PO_PATH = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"
CJK = re.compile(r"[\u3400-\u9fff]")
PLACEHOLDER = re.compile(r"%\([^)]+\)[-#0 +]*\d*[sdf]|%[sd]|\{\w*\}")


def _unquote(s: str) -> str:
    s = s.strip()
    assert s.startswith('"') and s.endswith('"'), s
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s[1:-1])


def _po_entries(path: Path):
    """Parse a .po file with plain Python: a list of dicts with msgid, msgstr (or msgstr[n]), flags."""
    entries, entry, key = [], None, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        line = line.strip()
        if not line:
            if entry and "msgid" in entry:
                entries.append(entry)
            entry, key = None, None
            continue
        if entry is None or (key and key.startswith("msgstr") and (line.startswith("#") or line.startswith("msgid"))):
            if entry and "msgid" in entry:
                entries.append(entry)
            entry, key = {"flags": set()}, None
        if line.startswith("#,"):
            entry["flags"].update(f.strip() for f in line[2:].split(","))
        elif line.startswith("#~"):
            entry["obsolete"] = True
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[key] += _unquote(line)
        else:
            key, _, rest = line.partition(" ")
            entry[key] = _unquote(rest)
    return entries


def test_catalogue_is_complete_and_has_no_fuzzy_entries():
    entries = _po_entries(PO_PATH)
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == "" and "Language: en" in header["msgstr"]
    assert len(messages) > 1000
    problems = []
    for e in messages:
        if e.get("obsolete"):
            problems.append(("obsolete", e["msgid"]))
            continue
        if "fuzzy" in e["flags"]:
            problems.append(("fuzzy", e["msgid"]))
        strs = [v for k, v in e.items() if k.startswith("msgstr")]
        if not strs or any(not s.strip() for s in strs):
            problems.append(("untranslated", e["msgid"]))
        elif any(CJK.search(s) for s in strs):
            problems.append(("still Chinese", e["msgid"]))
        elif any(sorted(PLACEHOLDER.findall(e["msgid"])) != sorted(PLACEHOLDER.findall(s)) for s in strs):
            problems.append(("placeholders differ", e["msgid"]))
    assert not problems, problems[:20]
    assert not any("fuzzy" in e["flags"] for e in entries), "header or entry still marked fuzzy"


def test_compiled_catalogue_is_present_and_not_older_than_the_po():
    mo = PO_PATH.with_suffix(".mo")
    assert mo.exists(), "run: manage.py compilemessages -l en"
    assert mo.stat().st_mtime >= PO_PATH.stat().st_mtime - 1, "django.mo is older than django.po: recompile"


# ── API: validation and permission errors ───────────────────────────────────────────────

def _with_check_character(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


def _bad_checksum_id(county_code: str) -> str:
    good = _with_check_character(f"{county_code}19800101123")
    return good[:17] + ("0" if good[17] != "0" else "1")


@pytest.mark.django_db
def test_api_validation_error_is_chinese_by_default_and_english_on_request(staff, api, shiyan):
    payload = {"id_number": _bad_checksum_id(shiyan.county.code), "name": "张三",
               "village": shiyan.village().code}

    zh = api(staff["clerk"]).post("/api/v1/persons/", payload, format="json")
    assert zh.status_code == 400, zh.content
    assert zh.json()["id_number"] == ["公民身份号码校验码错误。"]
    assert zh["Content-Language"] == "zh-hans"

    en = api(staff["clerk"], language="en").post("/api/v1/persons/", payload, format="json")
    assert en.status_code == 400, en.content
    assert en.json()["id_number"] == ["The citizen ID number check digit is wrong."]
    assert en["Content-Language"] == "en"

    # A browser-style header with a region and quality values picks English too.
    en_us = api(staff["clerk"], language="en-US,en;q=0.9,zh;q=0.5").post("/api/v1/persons/", payload, format="json")
    assert en_us.json()["id_number"] == ["The citizen ID number check digit is wrong."]


@pytest.mark.django_db
def test_api_service_error_and_permission_message_in_english(staff, api, shiyan):
    from members.services import person_register

    id_number = _with_check_character(f"{shiyan.county.code}19800101123")
    person_register(id_number=id_number, name="李四", village_code=shiyan.village().code, actor=staff["clerk"])
    payload = {"id_number": id_number, "name": "李四", "village": shiyan.village().code}

    # Raised by the service (not the serializer): the duplicate ID number.
    zh = api(staff["clerk"]).post("/api/v1/persons/", payload, format="json")
    assert zh.status_code == 400 and "该公民身份号码已登记。" in str(zh.json()), zh.content
    en = api(staff["clerk"], language="en").post("/api/v1/persons/", payload, format="json")
    assert en.status_code == 400 and "This citizen ID number is already registered." in str(en.json()), en.content

    # The role check of the relatives endpoint: only window clerks add relatives.
    url = f"/api/v1/persons/{id_number}/relatives/"
    zh = api(staff["reviewer"]).post(url, {"relative": id_number, "relation": "spouse"}, format="json")
    assert zh.status_code == 403 and zh.json()["detail"] == "您的角色无权执行此操作。"
    en = api(staff["reviewer"], language="en").post(url, {"relative": id_number, "relation": "spouse"}, format="json")
    assert en.status_code == 403 and en.json()["detail"] == "Your role is not allowed to perform this operation."


# ── pages ───────────────────────────────────────────────────────────────────────────────

@pytest.mark.django_db
def test_login_page_is_chinese_by_default(client):
    page = client.get("/accounts/login/").content.decode()
    assert "医保经办后台" in page and "用户名" in page and "登录" in page


@pytest.mark.django_db
def test_login_page_in_english_by_cookie_or_header(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get("/accounts/login/").content.decode()
    assert "Medical Security Back Office" in page and "Username" in page and "Password" in page
    assert "医保经办后台" not in page

    client.cookies.pop(settings.LANGUAGE_COOKIE_NAME)
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Medical Security Back Office" in page and "Log in" in page

    failed = client.post("/accounts/login/", {"username": "nobody", "password": "wrong"},
                         HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "The username or password is incorrect, or the account is temporarily locked." in failed


@pytest.mark.django_db
def test_language_switch_turns_the_agent_pages_english(client, staff):
    client.force_login(staff["agent"])
    zh = client.get("/agent/")
    assert zh.status_code == 200
    assert "乡镇经办" in zh.content.decode()

    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/agent/"})
    assert switched.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"

    en = client.get("/agent/").content.decode()
    assert "Township agent" in en and "Log out" in en
    assert "乡镇经办" not in en
