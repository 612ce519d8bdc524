"""Clean ``--help``: conventional metavars instead of typer's ``<bool>``/``<int>``/``<list[str]>`` tags.

Typer (0.2x) writes a Python type tag after every parameter in its help panels, flags included
(``--if-empty <bool>``, ``--map <list[str]>``). ``minqing`` shows what Click and most Unix tools
show instead: nothing after a flag, ``INTEGER``, ``FLOAT``, ``TEXT``, ``PATH``, ``TEXT...`` for a
repeatable option and ``[a|b]`` for choices (ranges keep typer's ``[0<=x<=500]`` note), and
``FILE`` / ``[FILE]`` for arguments in the usage line. Installed once by ``api.cli``.
"""

from __future__ import annotations

from typer import core

_WORDS = {
    "int": "INTEGER",
    "float": "FLOAT",
    "str": "TEXT",
    "bool": "BOOLEAN",
    "int range": "INTEGER",
    "float range": "FLOAT",
    "datetime": "DATETIME",
    "uuid": "UUID",
}


def plain(label: str) -> str:
    """Typer's type label (``int``, ``list[str]``, ``a|b``, ``path`` ...) as a conventional metavar."""
    if label.startswith("list[") and label.endswith("]"):
        return plain(label[5:-1]) + "..."
    if label in _WORDS:
        return _WORDS[label]
    if "|" in label:
        return f"[{label}]"
    return ",".join(_WORDS.get(part, part.upper()) for part in label.split(","))


def metavar(self: core._TyperParameter, ctx: core._click.Context) -> str | None:
    """What help shows after a parameter: nothing for flags and counters, else a conventional metavar.

    Installed as the parameters' method (``self`` is the parameter)."""
    if getattr(self, "is_flag", False) or getattr(self, "count", False):
        return None
    if self.metavar is not None:
        return str(self.metavar)
    shown = plain(self.display_type(ctx).removeprefix("<").removesuffix(">"))
    many = isinstance(self, core.TyperOption) and self.nargs != 1 and not shown.endswith("...")
    return shown + "..." if many else shown


def usage_name(self: core.TyperArgument) -> str:
    """An argument in the usage line: ``FILE`` when required, ``[FILE]`` when not (not ``{file}``).

    Installed as the arguments' method (``self`` is the argument)."""
    name = self.metavar or (self.name or "").upper()
    name = name if self.required else f"[{name}]"
    return name + "..." if self.nargs != 1 else name


def install() -> None:
    """Make every typer option and argument of this process use ``metavar`` in help output."""
    core.TyperOption.display_type_rich = metavar  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = metavar  # type: ignore[method-assign]
    if hasattr(core.TyperArgument, "_usage_display_name"):  # typer >= 0.2x spells required ones {name}
        core.TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]
