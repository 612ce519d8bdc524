"""Reference tables (facility types, targets, place-name rules ...) and the demo district generator."""

from __future__ import annotations

DEMO_LABEL = "演示数据(虚构)"
"""Printed on every map, page and report drawn from the fictional demo district."""
