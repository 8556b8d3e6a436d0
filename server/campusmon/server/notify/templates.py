"""Message texts in zh-CN and en, with times in the configured time zone and a link to the ticket."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

PROBLEMS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "device_down": "设备掉线",
        "should_be_on": "应开机未在线",
        "report_stale": "上报中断",
        "disk_full": "磁盘将满",
        "memory_saturated": "内存占满",
        "cpu_saturated": "CPU 持续满载",
        "peripheral_missing": "外设缺失",
        "inventory_changed": "硬件变更",
        "upstream_down": "上联交换机故障",
        "room_down": "教室设备整体离线",
        "manual": "人工报修",
        "port_down": "端口断开",
        "probe_failing": "探测失败",
        "inspection_failed": "巡检不合格",
        "inspection_overdue": "巡检逾期",
    },
    "en": {
        "device_down": "device down",
        "should_be_on": "should be on but is not",
        "report_stale": "reports stopped",
        "disk_full": "disk almost full",
        "memory_saturated": "memory saturated",
        "cpu_saturated": "CPU saturated",
        "peripheral_missing": "peripheral missing",
        "inventory_changed": "inventory changed",
        "upstream_down": "upstream switch down",
        "room_down": "room dark",
        "manual": "reported by hand",
        "port_down": "port down",
        "probe_failing": "probe failing",
        "inspection_failed": "failed in inspection",
        "inspection_overdue": "inspection overdue",
    },
}

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "opened": "新工单",
        "reopened": "工单重新打开",
        "resolved": "工单已解决",
        "flapping": "故障反复出现",
        "digest": "{n} 条工单通知",
        "severity": "级别",
        "where": "位置",
        "problem": "问题",
        "time": "时间",
        "affected": "受影响设备",
        "link": "查看工单",
        "more": "等 {n} 台",
        "info": "提示",
        "warning": "警告",
        "critical": "严重",
    },
    "en": {
        "opened": "New ticket",
        "reopened": "Ticket reopened",
        "resolved": "Ticket resolved",
        "flapping": "Problem is flapping",
        "digest": "{n} ticket notifications",
        "severity": "Severity",
        "where": "Where",
        "problem": "Problem",
        "time": "Time",
        "affected": "Affected devices",
        "link": "Open ticket",
        "more": "and {n} more",
        "info": "info",
        "warning": "warning",
        "critical": "critical",
    },
}


@dataclass(frozen=True)
class TicketInfo:
    """What a message says about a ticket (a snapshot taken when the message is sent)."""

    id: int
    campus: str
    device: str
    room: str
    problem: str
    subject: str
    severity: str
    status: str
    summary: str
    at: datetime
    affected: Sequence[str] = ()

    def as_json(self, tz: ZoneInfo, url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "campus": self.campus,
            "device": self.device,
            "room": self.room,
            "problem": self.problem,
            "subject": self.subject,
            "severity": self.severity,
            "status": self.status,
            "summary": self.summary,
            "at": self.at.astimezone(tz).isoformat(),
            "affected": list(self.affected),
            "url": url,
        }


@dataclass(frozen=True)
class Message:
    title: str
    #: markdown for the robots
    markdown: str
    #: plain text for email
    text: str
    #: the structured payload for the generic webhook
    data: dict[str, Any] = field(default_factory=dict)


def ticket_link(template: str, ticket_id: int) -> str:
    return template.replace("{id}", str(ticket_id)) if template else ""


def _where(t: TicketInfo) -> str:
    parts = [t.campus]
    if t.room:
        parts.append(t.room)
    if t.device:
        parts.append(t.device)
    if t.subject and t.subject != t.room:
        parts.append(t.subject)
    return " / ".join(parts)


def _lines(t: TicketInfo, event: str, lang: str, tz: ZoneInfo, link: str) -> list[str]:
    tr = TEXT[lang]
    problem = PROBLEMS[lang].get(t.problem, t.problem)
    lines = [
        f"{tr['severity']}: {tr.get(t.severity, t.severity)}",
        f"{tr['where']}: {_where(t)}",
        f"{tr['problem']}: {problem} — {t.summary}",
        f"{tr['time']}: {t.at.astimezone(tz).strftime('%Y-%m-%d %H:%M:%S %Z')}",
    ]
    if t.affected:
        shown = ", ".join(t.affected[:20])
        more = f" {tr['more'].format(n=len(t.affected) - 20)}" if len(t.affected) > 20 else ""
        lines.append(f"{tr['affected']} ({len(t.affected)}): {shown}{more}")
    if link:
        lines.append(f"{tr['link']}: {link}")
    return lines


def render(t: TicketInfo, event: str, lang: str, tz: ZoneInfo, url_template: str) -> Message:
    tr = TEXT[lang]
    link = ticket_link(url_template, t.id)
    title = f"[{tr.get(t.severity, t.severity)}] {tr[event]} #{t.id}: {_where(t)}"
    lines = _lines(t, event, lang, tz, link)
    body = lines[:-1] if link else lines
    md_lines = [f"### {title}", *(f"- {line}" for line in body)]
    if link:
        md_lines.append(f"- [{tr['link']}]({link})")
    return Message(
        title=title,
        markdown="\n".join(md_lines),
        text="\n".join([title, "", *lines]),
        data={"event": event, "title": title, "ticket": t.as_json(tz, link)},
    )


def render_digest(
    items: Sequence[tuple[TicketInfo, str]], lang: str, tz: ZoneInfo, url_template: str
) -> Message:
    """Many tickets at once: one message listing them all."""
    tr = TEXT[lang]
    title = tr["digest"].format(n=len(items))
    md = [f"### {title}"]
    text = [title, ""]
    for t, event in items:
        link = ticket_link(url_template, t.id)
        head = f"{tr[event]} #{t.id} [{tr.get(t.severity, t.severity)}] {_where(t)}: {t.summary}"
        md.append(f"- [{head}]({link})" if link else f"- {head}")
        text.append(f"- {head}" + (f" {link}" if link else ""))
    return Message(
        title=title,
        markdown="\n".join(md),
        text="\n".join(text),
        data={
            "event": "digest",
            "title": title,
            "tickets": [
                dict(t.as_json(tz, ticket_link(url_template, t.id)), event=event) for t, event in items
            ],
        },
    )
