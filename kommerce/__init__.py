"""Kommerce core library: the pieces every service, operator and CLI command shares."""

__version__ = "0.1.0"
