"""The editable fields of an asset: parsing (as people type them, in Chinese or English) and display."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from campusmon.config import did_you_mean

from .models import ASSET_STATUSES, ASSET_TYPES


class RegisterError(ValueError):
    """A request the register refuses; the message says why and, where it can, what would work."""


#: spreadsheet words for types and statuses, as schools write them
TYPE_ALIASES = {
    "电脑": "pc",
    "计算机": "pc",
    "台式机": "pc",
    "笔记本": "pc",
    "笔记本电脑": "pc",
    "desktop": "pc",
    "laptop": "pc",
    "一体机": "panel",
    "交互平板": "panel",
    "智能平板": "panel",
    "白板": "panel",
    "交换机": "switch",
    "无线ap": "ap",
    "无线接入点": "ap",
    "打印机": "printer",
    "交互式一体机": "panel",
    "班班通": "panel",
    "无线路由器": "ap",
    "实物展台": "camera",
    "投影仪": "projector",
    "投影机": "projector",
    "服务器": "server",
    "摄像头": "camera",
    "展台": "camera",
    "视频展台": "camera",
    "监控": "camera",
    "其他": "other",
    "其它": "other",
}
#: words of a `类别` (category) column, from general to specific asset systems: a word containing one
#: of these (checked in this order) gives the type; English words match whole words
CATEGORY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("server", ("服务器", "server")),
    ("switch", ("交换机", "switch")),
    ("ap", ("无线ap", "无线接入", "无线路由", "access point", "ap", "wap")),
    ("printer", ("打印", "复印", "printer", "copier", "mfp")),
    ("projector", ("投影", "projector", "beamer")),
    (
        "camera",
        ("展台", "视频展示", "高拍仪", "摄像", "监控", "visualizer", "visualiser", "camera"),
    ),
    (
        "panel",
        (
            "一体机",
            "班班通",
            "交互",
            "平板",
            "白板",
            "触控",
            "触摸",
            "panel",
            "all-in-one",
            "all in one",
            "smart board",
            "whiteboard",
            "interactive",
        ),
    ),
    (
        "pc",
        (
            "台式",
            "电脑",
            "计算机",
            "笔记本",
            "教师机",
            "学生机",
            "主机",
            "desktop",
            "pc",
            "computer",
            "laptop",
            "notebook",
            "workstation",
        ),
    ),
)


def category_type(raw: str) -> str | None:
    """The type a school's category word stands for (台式机 → pc, 交互式一体机 → panel, 实物展台 →
    camera, "Wireless AP" → ap), or None when no known word is in it."""
    low = raw.strip().lower()
    if not low:
        return None
    if low in ASSET_TYPES:
        return low
    if low in TYPE_ALIASES:
        return TYPE_ALIASES[low]
    for kind, words in CATEGORY_WORDS:
        for word in words:
            if word.isascii():
                if re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", low):
                    return kind
            elif word in low:
                return kind
    return None


STATUS_ALIASES = {
    "在用": "in_use",
    "使用中": "in_use",
    "正常": "in_use",
    "维修": "in_repair",
    "维修中": "in_repair",
    "送修": "in_repair",
    "备用": "spare",
    "闲置": "spare",
    "库存": "spare",
    "报废": "retired",
    "已报废": "retired",
    "丢失": "lost",
    "遗失": "lost",
    "in use": "in_use",
    "in repair": "in_repair",
}

#: the fields `assets set --field` and the importer may write (room/campus go through room lookup)
TEXT_FIELDS = ("name", "vendor", "model", "department", "position", "notes", "ip", "os_family")
EDITABLE = (
    "asset_tag",
    "name",
    "type",
    "vendor",
    "model",
    "serial",
    "purchase_date",
    "price",
    "warranty_end",
    "department",
    "status",
    "position",
    "ip",
    "os_family",
    "notes",
)
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S")
_TAG_RE = re.compile(r"^[\w.\-/#]{1,64}\Z")


def _parse_choice(raw: str, what: str, choices: Sequence[str], aliases: Mapping[str, str]) -> str:
    """One of `choices`, accepting aliases (Chinese names, common spellings) in any case."""
    value = raw.strip()
    low = value.lower()
    if low in choices:
        return low
    if low in aliases:
        return aliases[low]
    raise RegisterError(f"unknown {what} {value!r}{did_you_mean(low, choices)}; one of {', '.join(choices)}")


def parse_type(raw: str) -> str:
    return _parse_choice(raw, "type", ASSET_TYPES, TYPE_ALIASES)


def parse_status(raw: str) -> str:
    return _parse_choice(raw, "status", ASSET_STATUSES, STATUS_ALIASES)


def parse_date(raw: str) -> date:
    value = raw.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise RegisterError(f"not a date: {value!r} (use YYYY-MM-DD)")


def parse_price(raw: str) -> Decimal:
    value = raw.strip().replace(",", "").replace("，", "").removeprefix("¥").removeprefix("￥")
    value = value.removesuffix("元").strip()
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise RegisterError(f"not a price: {raw.strip()!r}") from None
    if not price.is_finite() or price < 0 or price >= Decimal("1e10"):
        raise RegisterError(f"price out of range: {raw.strip()!r}")
    return price.quantize(Decimal("0.01"))


def parse_tag(raw: str) -> str:
    value = raw.strip()
    if not _TAG_RE.match(value):
        raise RegisterError(f"bad asset tag {value!r}: 1-64 letters, digits and . - / # _ (no spaces)")
    return value


def parse_field(name: str, raw: str) -> Any:
    """One field as typed by a person → the stored value; empty text clears optional fields."""
    if name not in EDITABLE:
        raise RegisterError(f"unknown field {name!r}{did_you_mean(name, EDITABLE)}")
    value = raw.strip()
    if name == "type":
        return parse_type(value)
    if name == "status":
        return parse_status(value)
    if name in ("purchase_date", "warranty_end"):
        return parse_date(value) if value else None
    if name == "price":
        return parse_price(value) if value else None
    if name == "asset_tag":
        return parse_tag(value) if value else None
    if name == "serial":
        return value or None
    return value


def show(value: Any) -> str | None:
    """How a stored value is written in history, exports and tables."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(v) for v in value)
    return str(value)
