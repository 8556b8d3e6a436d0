"""Regular inspections: plans as data, checklists pre-filled from live data, due and overdue dates."""
