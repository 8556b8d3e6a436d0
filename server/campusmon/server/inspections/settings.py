"""The `[inspections]` section of the server config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from campusmon.config import Range


@dataclass
class InspectionSettings:
    #: the site's plans and checklists, overlaid on the shipped ones (inspections/plans.toml)
    plans_file: Path | None = None
    #: an overdue inspection opens one reminder ticket (problem inspection_overdue), which the
    #: notification routes deliver like any other; finishing the inspection resolves it
    notify_overdue: bool = True
    overdue_severity: Literal["info", "warning", "critical"] = "info"
    #: how often the server looks for overdue inspections
    check_minutes: Annotated[float, Range(1.0, 1440.0, "minutes")] = 60.0
    #: `campusmon inspections due` lists what falls due within this many days
    due_within_days: Annotated[int, Range(0, 90, "days")] = 7

    def validate(self) -> None:
        if self.plans_file is not None:
            from .plans import load_plans

            load_plans(self.plans_file)  # a broken plans file stops the server at start, not later
