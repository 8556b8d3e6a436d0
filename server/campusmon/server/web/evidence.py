"""The pre-fill's evidence in the reader's language.

An inspection item keeps its evidence as the English sentence `inspections.prefill.suggest` wrote
(the record the CLI, reports and ticket notes show). The phone page shows it through the catalog:
each sentence `suggest` can write is matched here and rebuilt from translated parts; anything else
(a site's own wording) is shown as stored. tests/unit/web/test_evidence.py runs every branch of
`suggest` through this, so a new sentence there cannot go untranslated unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .i18n import N_, gettext_for

_AGE = r"(?: for (?P<age>[\d.]+) (?P<unit>min|h|d))?"
_UNITS = {"min": N_("%(n)s min"), "h": N_("%(n)s h"), "d": N_("%(n)s days")}
#: the peripherals a pre-fill names by their metric
PERIPHERALS = {
    "usb_camera": N_("document camera"),
    "touchscreen": N_("touch screen"),
    "display_connected": N_("display"),
}
_STATES = {"online": N_("online"), "shutdown": N_("shutdown"), "lost": N_("lost"), "unknown": N_("unknown")}

#: (pattern of the stored English sentence, catalog message built from its groups)
_SENTENCES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), message)
    for pattern, message in (
        (r"ticket #(?P<id>\d+) open: (?P<summary>.*)", N_("ticket #%(id)s open: %(summary)s")),
        (rf"online now{_AGE}", N_("online now%(age)s")),
        (
            rf"not online now \((?P<state>\w+){_AGE}\): switch it on",
            N_("not online now (%(state)s%(age)s): switch it on"),
        ),
        (
            r"not online now \((?P<state>\w+)\): nothing live to go by",
            N_("not online now (%(state)s): nothing live to go by"),
        ),
        (r"no recent disk figures", N_("no recent disk figures")),
        (
            r"no disk ticket open; fullest disk (?P<pct>\d+)% used",
            N_("no disk ticket open; fullest disk %(pct)s%% used"),
        ),
        (r"online, no port or uplink ticket open", N_("online, no port or uplink ticket open")),
        (
            r"reported present \((?P<what>\w+)_count = (?P<n>[\d.]+)\)",
            N_("reported present: %(what)s × %(n)s"),
        ),
        (r"the last report has none \((?P<what>\w+)_count = 0\)", N_("the last report has no %(what)s")),
        (r"in the last inventory: (?P<usb>.*)", N_("in the last inventory: %(usb)s")),
        (r"the agent reports nothing about it", N_("the agent reports nothing about it")),
    )  # fmt: skip
)


def evidence_in(lang: str) -> Callable[[str], str]:
    """A function that shows a stored evidence sentence in `lang` (zh-CN or en)."""
    _ = gettext_for(lang)

    def show(text: str) -> str:
        for pattern, message in _SENTENCES:
            m = pattern.fullmatch(text)
            if m is None:
                continue
            parts = {k: v or "" for k, v in m.groupdict().items()}
            if "unit" in parts:
                unit = parts.pop("unit")
                n = parts.pop("age")
                parts["age"] = (" · " + _(_UNITS[unit]) % {"n": n}) if unit else ""
            if "what" in parts:
                parts["what"] = _(PERIPHERALS.get(parts["what"], parts["what"]))
            if "state" in parts:
                parts["state"] = _(_STATES.get(parts["state"], parts["state"]))
            return _(message) % parts
        return text

    return show
