"""Kagi black-box conformance runner (see ../README.md)."""
