"""``minqing users``: accounts and roles (create, list, set-role, deactivate, demo accounts)."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from api.cli._common import fail, friendly_errors
from layers.models import ROLES
from settings import account_settings

app = typer.Typer(no_args_is_help=True, help="用户 accounts and roles: " + ", ".join(ROLES))

DEMO_ACCOUNTS = {
    "planner": "planner",
    "officer": "placename_officer",
    "gridworker": "grid_worker",
    "admin": "admin",
    "dispatcher": "dispatcher",
    "department": "department",
}
DEMO_DEPARTMENT = "民政局"
"""The demo department account's 职能部门 (养老帮扶 and 困难救助 in data/event_categories.csv)."""
"""Demo username → role."""


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _role(role: str) -> str:
    if role not in ROLES:
        fail(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def _hash(password: str) -> str:
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from api.security import PasswordRejected, hash_password

    rounds = account_settings().bcrypt_rounds
    try:
        return hash_password(password, rounds=rounds)
    except PasswordRejected as e:
        fail(str(e))
        raise  # unreachable: fail() exits


def _read_password(password: str | None, password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if password is not None:
        return password
    return typer.prompt("密码 password", hide_input=True, confirmation_prompt=True)


@app.command()
def create(
    username: str = typer.Argument(
        ..., help="登录名 login name: a-z, 0-9, . _ - and 汉字 (stored in lower case)"
    ),
    role: str = typer.Option(..., "--role", "-r", help=f"one of {', '.join(ROLES)}"),
    password: str | None = typer.Option(None, "--password", help="the password (visible in shell history!)"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin"),
    area_id: int | None = typer.Option(None, "--area-id", help="a grid worker's own grid (area_id)"),
    department: str | None = typer.Option(
        None, "--department", help="a department account's 职能部门, e.g. 民政局"
    ),
) -> None:
    """Create an account (asks for the password unless --password or --password-stdin)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import users
    from layers.db import session

    _role(role)
    secret = _read_password(password, password_stdin)
    with friendly_errors(), session(actor=_actor()) as s:
        account = users.create(
            s,
            username=username,
            password_hash=_hash(secret),
            role=role,
            area_id=area_id,
            department=department,
        )
    typer.echo(f"已创建 created {account.username} ({account.role}, user_id {account.user_id})")


@app.command("list")
def list_() -> None:
    """List every account (never the password hashes)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import users
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        accounts, _ = users.listing(s, limit=100_000)
    table = Table(title="用户 accounts")
    for column in ("user_id", "username", "role", "area_id", "active"):
        table.add_column(column)
    for a in accounts:
        table.add_row(
            str(a.user_id),
            a.username,
            a.role,
            "" if a.area_id is None else str(a.area_id),
            "yes" if a.active else "no",
        )
    Console().print(table)


@app.command("set-role")
def set_role(
    username: str = typer.Argument(...),
    role: str = typer.Argument(..., help=f"one of {', '.join(ROLES)}"),
    area_id: int | None = typer.Option(None, "--area-id", help="a grid worker's own grid (area_id)"),
    department: str | None = typer.Option(
        None, "--department", help="a department account's 职能部门, e.g. 民政局"
    ),
) -> None:
    """Change an account's role (and, for grid workers, their grid)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import users
    from layers.db import session

    changes: dict = {"role": _role(role)}
    if area_id is not None:
        changes["area_id"] = area_id
    if department is not None:
        changes["department"] = department
    with friendly_errors(), session(actor=_actor()) as s:
        account = users.update(s, users.by_username_or_fail(s, username).user_id, **changes)
    typer.echo(f"{account.username}: role {account.role}, area_id {account.area_id}")


@app.command("reset-password")
def reset_password(
    username: str = typer.Argument(...),
    password: str | None = typer.Option(
        None, "--password", help="the new password (visible in shell history!)"
    ),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the new password from stdin"),
) -> None:
    """Give an account a new password (asks for it); every login token of the account stops working."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import users
    from layers.db import session

    secret = _read_password(password, password_stdin)
    with friendly_errors(), session(actor=_actor()) as s:
        users.update(s, users.by_username_or_fail(s, username).user_id, password_hash=_hash(secret))
    typer.echo(f"已重置密码 new password set for {username}; its old login tokens no longer work")


@app.command("logout-everywhere")
def logout_everywhere(username: str = typer.Argument(...)) -> None:
    """Log an account out everywhere: every login token it holds stops working at once."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import users
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        users.revoke_all(s, users.by_username_or_fail(s, username).user_id)
    typer.echo(f"已全部退出 every login token of {username} revoked")


@app.command()
def deactivate(username: str = typer.Argument(...)) -> None:
    """Stop an account from logging in (its tokens stop working at once; history is kept)."""
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers import users
    from layers.db import session

    with friendly_errors(), session(actor=_actor()) as s:
        users.update(s, users.by_username_or_fail(s, username).user_id, active=False)
    typer.echo(f"已停用 deactivated {username}")


def demo_users_file() -> Path:
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from layers.cluster import project_root

    return project_root() / ".pgdata" / "demo-users.txt"


@app.command()
def demo(
    reset: bool = typer.Option(False, "--reset", help="give existing demo accounts new passwords too"),
    file: Path | None = typer.Option(
        None, "--file", help="where to write the passwords (default .pgdata/demo-users.txt)"
    ),
) -> None:
    """Create the demo accounts planner, officer, gridworker (the old-town grid around 文昌阁), admin,
    dispatcher and department (民政局) with generated passwords.

    The passwords are printed once and kept in .pgdata/demo-users.txt (readable by you only).
    Existing demo accounts keep their passwords unless --reset.
    """
    # late: keeps `minqing` start-up fast (loaded when the command runs)
    from api.security import generate_password
    from layers import users
    from layers.db import session

    path = file or demo_users_file()
    created: dict[str, tuple[str, str]] = {}
    with friendly_errors(), session(actor=_actor()) as s:
        grid = users.first_small_grid(s)
        for username, role in DEMO_ACCOUNTS.items():
            area = grid if role == "grid_worker" else None
            dept = DEMO_DEPARTMENT if role == "department" else None
            existing = users.by_username(s, username)
            if existing is not None and not reset:
                continue
            password = generate_password()
            if existing is None:
                users.create(
                    s,
                    username=username,
                    password_hash=_hash(password),
                    role=role,
                    area_id=area,
                    department=dept,
                )
            else:
                users.update(
                    s,
                    existing.user_id,
                    password_hash=_hash(password),
                    role=role,
                    area_id=area,
                    department=dept,
                    active=True,
                )
            created[username] = (role, password)
    _write_passwords(path, created)
    for username in DEMO_ACCOUNTS:
        if username in created:
            role, password = created[username]
            typer.echo(f"{username:<11} {role:<18} {password}")
        else:
            typer.echo(f"{username:<11} exists: password unchanged (see {path}, or --reset)")
    if created:
        typer.echo(f"密码只显示这一次 passwords shown once; also written to {path} (mode 600)")
    if grid is not None:
        with friendly_errors(), session() as s:
            name = users.area_name(s, grid)
        typer.echo(f"gridworker 的网格 grid: {name} (area_id {grid})")
    if grid is None:
        typer.echo(
            "注意: no small grid loaded yet, so gridworker has no grid (run `minqing demo load`, then "
            "`minqing users set-role gridworker grid_worker --area-id N`)"
        )


def _write_passwords(path: Path, created: dict[str, tuple[str, str]]) -> None:
    """Merge ``created`` into the password file, readable by the owner only (0600)."""
    lines: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                lines[line.split("\t", 1)[0]] = line
    for username, (role, password) in created.items():
        lines[username] = f"{username}\t{role}\t{password}"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# minqing-map demo accounts: username<TAB>role<TAB>password (keep private)\n")
        out.write("".join(f"{line}\n" for line in lines.values()))
    os.chmod(path, 0o600)
