"""Incidents: the case loop from report to evaluation (Yongzhou art. 14–16)."""
