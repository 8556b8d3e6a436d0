"""Texts of the monthly report in Chinese and English."""

from __future__ import annotations

from typing import Literal

from ..notify.templates import PROBLEMS

Lang = Literal["zh", "en"]

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "校园设备运行月报",
        "month": "月份",
        "generated": "生成时间",
        "summary": "概览",
        "item": "项目",
        "value": "数值",
        "availability": "可用率（仅计应开机时段）",
        "availability_short": "可用率",
        "by_campus": "按校区",
        "by_building": "按楼宇",
        "by_room": "按教室",
        "campus": "校区",
        "building": "楼宇",
        "room": "教室",
        "online_h": "在线小时",
        "expected_h": "应开机小时",
        "percent": "可用率 %",
        "tickets": "工单",
        "opened": "新建",
        "resolved": "已解决",
        "problem": "问题",
        "source": "来源",
        "by_problem": "按问题",
        "by_source": "按来源",
        "response": "响应与修复时间",
        "to_ack": "受理用时",
        "to_resolve": "解决用时",
        "count": "数量",
        "median": "中位数",
        "p90": "P90",
        "top": "故障最多的设备（前 10）",
        "device": "设备",
        "asset": "资产",
        "place": "位置",
        "faults": "故障数",
        "inspections": "巡检完成情况",
        "plan": "巡检计划",
        "due": "应检",
        "done": "已检",
        "met": "按期完成",
        "missed": "未完成",
        "warranty": "保修",
        "warranty_expired": "已过保",
        "warranty_near": "即将过保（{days} 天内）",
        "warranty_end": "保修截止",
        "type": "类型",
        "name": "名称",
        "hardware": "硬件变更",
        "at": "时间",
        "field": "项目",
        "old": "原值",
        "new": "新值",
        "by": "来源",
        "kind": "类别",
        "removed": "移除",
        "added": "新增",
        "changed": "更换",
        "moved": "搬移",
        "none": "无",
        "unplaced": "（未登记位置）",
        "hours": "小时",
        "devices": "设备数",
        "inspections_done_due": "巡检 已检 / 应检",
        "font_missing": "未找到中文字体（{path}），中文可能无法显示：请安装 fonts-wqy-microhei",
        "page": "第 {n} 页",
        "automatic": "自动",
        "manual": "人工",
        "teacher": "教师报修",
        "inspection": "巡检",
    },
    "en": {
        "title": "Campus equipment: monthly report",
        "month": "Month",
        "generated": "Generated",
        "summary": "Summary",
        "item": "Item",
        "value": "Value",
        "availability": "Availability (expected hours only)",
        "availability_short": "Availability",
        "by_campus": "By campus",
        "by_building": "By building",
        "by_room": "By room",
        "campus": "Campus",
        "building": "Building",
        "room": "Room",
        "online_h": "Online h",
        "expected_h": "Expected h",
        "percent": "Availability %",
        "tickets": "Tickets",
        "opened": "Opened",
        "resolved": "Resolved",
        "problem": "Problem",
        "source": "Source",
        "by_problem": "By problem",
        "by_source": "By source",
        "response": "Time to acknowledge and to resolve",
        "to_ack": "To acknowledge",
        "to_resolve": "To resolve",
        "count": "Count",
        "median": "Median",
        "p90": "P90",
        "top": "Devices with most faults (top 10)",
        "device": "Device",
        "asset": "Asset",
        "place": "Where",
        "faults": "Faults",
        "inspections": "Inspections done vs due",
        "plan": "Plan",
        "due": "Due",
        "done": "Done",
        "met": "On time",
        "missed": "Missed",
        "warranty": "Warranty",
        "warranty_expired": "Out of warranty",
        "warranty_near": "Warranty ends within {days} days",
        "warranty_end": "Warranty end",
        "type": "Type",
        "name": "Name",
        "hardware": "Hardware changes",
        "at": "When",
        "field": "What",
        "old": "Before",
        "new": "After",
        "by": "Seen by",
        "kind": "Kind",
        "removed": "removed",
        "added": "added",
        "changed": "swapped",
        "moved": "moved",
        "none": "none",
        "unplaced": "(no room in the register)",
        "hours": "h",
        "devices": "Devices",
        "inspections_done_due": "Inspections done / due",
        "font_missing": (
            "No Chinese font found ({path}); Chinese text may not show: install fonts-wqy-microhei"
        ),
        "page": "page {n}",
        "automatic": "automatic",
        "manual": "manual",
        "teacher": "teacher",
        "inspection": "inspection",
    },
}

#: sheet names of the workbook (Excel allows 31 characters)
SHEETS: dict[str, dict[str, str]] = {
    "zh": {
        "summary": "概览",
        "by_campus": "可用率-校区",
        "by_building": "可用率-楼宇",
        "by_room": "可用率-教室",
        "by_problem": "工单-按问题",
        "by_source": "工单-按来源",
        "response": "响应时间",
        "top": "故障最多设备",
        "inspections": "巡检",
        "warranty_expired": "已过保",
        "warranty_near": "即将过保",
        "hardware": "硬件变更",
    },
    "en": {
        "summary": "Summary",
        "by_campus": "Availability campus",
        "by_building": "Availability building",
        "by_room": "Availability room",
        "by_problem": "Tickets by problem",
        "by_source": "Tickets by source",
        "response": "Response times",
        "top": "Top devices",
        "inspections": "Inspections",
        "warranty_expired": "Out of warranty",
        "warranty_near": "Warranty ending",
        "hardware": "Hardware changes",
    },
}

FIELDS: dict[str, dict[str, str]] = {
    "zh": {
        "inventory.memory_module": "内存条",
        "inventory.memory": "内存容量",
        "inventory.disk": "硬盘",
        "inventory.cpu": "CPU",
        "inventory.smbios": "主板/整机",
        "inventory.monitor": "显示器",
        "inventory.nic": "网卡",
        "room": "所在教室",
    },
    "en": {
        "inventory.memory_module": "RAM module",
        "inventory.memory": "RAM size",
        "inventory.disk": "disk",
        "inventory.cpu": "CPU",
        "inventory.smbios": "board / system",
        "inventory.monitor": "monitor",
        "inventory.nic": "network card",
        "room": "room",
    },
}


def t(lang: Lang, key: str, **kw: object) -> str:
    text = TEXT[lang][key]
    return text.format(**kw) if kw else text


def problem(lang: Lang, key: str) -> str:
    return PROBLEMS["zh-CN" if lang == "zh" else "en"].get(key, key)


def source(lang: Lang, key: str) -> str:
    return TEXT[lang].get(key, key)


def sheet(lang: Lang, key: str) -> str:
    return SHEETS[lang].get(key, key)


def field_name(lang: Lang, key: str) -> str:
    return FIELDS[lang].get(key, key)
