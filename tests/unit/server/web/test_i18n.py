"""Every string the console shows is in the zh-CN catalog, translated, and the shipped .mo is current."""

from __future__ import annotations

import gettext
from io import BytesIO

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from campusmon.server.web.i18n import LOCALE_DIR, gettext_for

WEB = LOCALE_DIR.parent
METHOD_MAP = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def extracted() -> set[str]:
    ids = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(WEB), METHOD_MAP, OPTIONS, keywords={"_": None, "N_": None, "gettext": None}
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_every_template_and_code_string_is_translated_in_the_catalog() -> None:
    ids = extracted()
    assert len(ids) > 150 and "Log in" in ids and "Document camera not working" in ids
    catalog = read_po((LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb"))
    missing = sorted(i for i in ids if not ((m := catalog.get(i)) is not None and m.string))
    assert missing == [], f"not in messages.po (run pybabel extract/update, translate, compile): {missing}"


def test_the_compiled_catalog_matches_the_po_file() -> None:
    catalog = read_po((LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb"))
    mo = gettext.GNUTranslations(BytesIO((LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.mo").read_bytes()))
    for m in catalog:
        if m.id:
            assert mo.gettext(str(m.id)) == m.string, m.id
    assert gettext_for("zh-CN")("Overview") == "总览" and gettext_for("en")("Overview") == "Overview"
