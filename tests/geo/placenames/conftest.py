"""Make ``geo.placenames`` the real package while this directory is collected.

pytest puts ``tests/`` on sys.path and the test folders have no ``__init__.py``, so ``tests/geo`` is
seen as a namespace package ``geo`` and this folder would shadow ``geo.placenames``. When that has
happened, load the real package from the project tree instead. (A project-wide fix is
``pythonpath = ["."]`` in the pytest settings; then this guard does nothing.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[3] / "geo" / "placenames"


def _ensure_real_package() -> None:
    try:
        import geo.placenames as current
    except ImportError:
        current = None
    if current is not None and getattr(current, "__file__", None):
        return
    spec = importlib.util.spec_from_file_location(
        "geo.placenames", _PACKAGE / "__init__.py", submodule_search_locations=[str(_PACKAGE)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["geo.placenames"] = module
    spec.loader.exec_module(module)


_ensure_real_package()
