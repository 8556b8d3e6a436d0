"""zh-CN (the default) and English: gettext catalogs compiled by Babel, one Jinja2 environment each.

Message ids are English; `locale/zh_CN/LC_MESSAGES/messages.po` translates them (`pybabel compile`
makes the .mo shipped beside it; tests/unit/server/web/test_i18n.py checks every template string is there).
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
LANGS = ("zh-CN", "en")
DOMAIN = "messages"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang.replace("-", "_")])


def gettext_for(lang: str) -> Callable[[str], str]:
    return translations(lang if lang in LANGS else LANGS[0]).gettext


def N_(message: str) -> str:
    """Marks a string for the catalog where it is defined; translated where it is shown."""
    return message


#: words the templates translate from data (states, severities, types): listed so the catalog has them
DATA_WORDS = (
    N_("open"),
    N_("acknowledged"),
    N_("in progress"),
    N_("resolved"),
    N_("closed"),
    N_("info"),
    N_("warning"),
    N_("critical"),
    N_("automatic"),
    N_("manual"),
    N_("teacher"),
    N_("inspection"),
    N_("online"),
    N_("shutdown"),
    N_("lost"),
    N_("unknown"),
    N_("pc"),
    N_("panel"),
    N_("switch"),
    N_("ap"),
    N_("printer"),
    N_("projector"),
    N_("server"),
    N_("camera"),
    N_("other"),
    N_("in use"),
    N_("in repair"),
    N_("spare"),
    N_("retired"),
    N_("admin"),
    N_("technician"),
    N_("viewer"),
    N_("display_connected_count"),
    N_("touchscreen_count"),
    N_("usb_camera_count"),
)
