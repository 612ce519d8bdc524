"""The app assembles every router of api/routes, with no optional (silently dropped) ones."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from fastapi.routing import APIRoute

import api.main
import api.routes


def _flat(routes):
    for route in routes:
        if hasattr(route, "effective_candidates"):  # a router included lazily
            yield from _flat(route.effective_candidates())
        else:
            yield getattr(route, "original_route", route), route


def _routes(app_or_router) -> set[tuple[str, str]]:
    return {
        (outer.path, m)
        for inner, outer in _flat(app_or_router.routes)
        if isinstance(inner, APIRoute)
        for m in inner.methods
    }


def test_every_router_module_is_mounted(app):
    mounted = _routes(app)
    modules = [m.name for m in pkgutil.iter_modules(api.routes.__path__)]
    assert {"imports", "planning", "maps", "collections"} <= set(modules)
    for name in modules:
        router = getattr(importlib.import_module(f"api.routes.{name}"), "router", None)
        assert router is not None, f"api/routes/{name}.py has no router"
        missing = _routes(router) - mounted
        assert not missing, f"routes of api/routes/{name}.py not in the app: {sorted(missing)[:5]}"


def test_no_router_is_optional():
    """Imports of route modules are plain: a broken module fails the start instead of hiding its routes."""
    source = inspect.getsource(api.main)
    assert "find_spec" not in source and "import_module" not in source and "_optional" not in source
