# SPDX-License-Identifier: MIT
"""Helpers for regwarden's end-to-end tests (test tools, never linked into regwarden)."""
