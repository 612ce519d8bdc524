"""Prepared networks kept on disk, so that a new process (the worker after a restart, the CLI, a
second server worker) reads them instead of preparing them again while the street network, homes,
areas and profiles are unchanged.

A file is named by a digest of everything the prepared networks depend on: the database (server,
port, oid), each base layer's version counter and the time it last changed, the profiles, the
snapping and gap distances, and the code of ``geo`` that builds them. A changed layer or code gives
another name, so a file is never stale; the newest ``KEEP`` files are kept. Files are pickles written
by this program into its own folder (``MINQING_PREPARED_DIR``); they are read back by it alone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import threading
import time
from functools import lru_cache
from pathlib import Path

import geo
from geo.coverage import Prepared

KEEP = 4
"""Newest files kept (a city's networks take a few hundred MB)."""

SUFFIX = ".prepared"
log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def code_digest() -> str:
    """Digest of the ``geo`` sources: a file written by other code is never read."""
    h = hashlib.sha1()
    for path in sorted(Path(geo.__file__).parent.rglob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def name_of(key: tuple) -> str:
    """File name (without folder) of the prepared networks of ``key``."""
    return hashlib.sha1(repr((code_digest(), key)).encode()).hexdigest()[:24] + SUFFIX


def read(folder: Path, name: str) -> Prepared | None:
    """The prepared networks kept under ``name``, or None (absent, or unreadable: then removed)."""
    path = folder / name
    try:
        with path.open("rb") as f:
            value = pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a torn or foreign file: prepare again, and write a good one
        log.warning("prepared networks file %s unreadable (%s): preparing again", name, type(exc).__name__)
        path.unlink(missing_ok=True)
        return None
    if not isinstance(value, Prepared):
        path.unlink(missing_ok=True)
        return None
    os.utime(path)  # recently used: kept longest
    return value


def write(folder: Path, name: str, prepared: Prepared) -> threading.Thread:
    """Write ``prepared`` under ``name`` in a thread (the run goes on; a process waits for it at exit).

    Written to a temporary file and renamed, so a reader sees a whole file or none.
    """

    def run() -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
            with tmp.open("wb") as f:
                pickle.dump(prepared, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, folder / name)
            _evict(folder)
        except OSError as exc:  # a full or read-only disk costs a later prepare, nothing else
            log.warning("prepared networks not kept on disk: %s", exc.strerror)

    thread = threading.Thread(target=run, name="prepared-file")
    thread.start()
    _writing.append(thread)
    return thread


_writing: list[threading.Thread] = []


def wait() -> None:
    """Wait until the files being written are written."""
    while _writing:
        _writing.pop().join()


def _evict(folder: Path) -> None:
    files = sorted(folder.glob("*" + SUFFIX), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files[KEEP:]:
        path.unlink(missing_ok=True)
    for tmp in folder.glob(".*.tmp"):  # left by a process killed while writing
        if tmp.stat().st_mtime < time.time() - 3600:
            tmp.unlink(missing_ok=True)
