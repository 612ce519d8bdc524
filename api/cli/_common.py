"""Shared CLI plumbing: clear error output and progress bars."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from tqdm import tqdm

from layers.errors import LayersError
from settings import cli_settings


def fail(message: str, *, code: int = 2) -> NoReturn:
    typer.secho(f"错误 error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn our own errors into one red line and a non-zero exit (no stack trace)."""
    try:
        yield
    except (typer.Exit, typer.Abort):  # fail() inside the block: already one clear line
        raise
    except LayersError as e:
        fail(_with_fix(e))
    except Exception as e:  # geo errors share the same contract: a message with the fix
        if type(e).__module__.startswith(("geo", "layers", "pipeline", "api", "data", "province")):
            fail(_with_fix(e))
        if cli_settings().debug:
            raise
        # a bug, not a mistake of the user: one clear line; the traceback only on request
        fail(
            f"internal error ({type(e).__name__}: {str(e)[:300]}). This is a bug: "
            "run again with MINQING_DEBUG=1 for the traceback and report it",
            code=3,
        )


def _with_fix(e: Exception) -> str:
    fix = getattr(e, "fix", None)
    return f"{e} — {fix}" if fix else str(e)


@contextmanager
def steps(total: int, *, desc: str, log: bool = False) -> Iterator[Callable[[str], None]]:
    """A progress bar advanced by calling ``step(label)``.

    The bar shows only on a terminal; with ``log``, each step is printed as a time-stamped line on
    stderr instead when it is hidden (cron jobs, CI, output piped to a file), so that a long import
    still tells where it is.
    """
    bar = tqdm(total=total, desc=desc, unit="步", file=sys.stderr, dynamic_ncols=True, disable=None)
    start = time.perf_counter()

    def line(label: str) -> None:
        print(f"[{desc} {time.perf_counter() - start:6.1f} s] {label}", file=sys.stderr, flush=True)

    def advance(label: str) -> None:
        bar.set_postfix_str(label)
        bar.update(1)

    try:
        yield line if bar.disable and log else advance
    finally:
        bar.close()
