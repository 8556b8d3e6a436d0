"""campusmon: monitoring, fault tickets and asset register for school campuses."""

__version__ = "0.1.0"
