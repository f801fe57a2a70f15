"""Logs, metrics and traces: what every Kommerce process emits the same way."""
