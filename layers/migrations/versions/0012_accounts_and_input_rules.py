"""token revocation, normalised usernames, the login index, and two data rules (issue 14)

* ``users.token_version``: tokens carry it; bumped by logout everywhere, a password change or reset,
  a role change and deactivation, so older tokens stop working.
* ``revoked_tokens``: token ids (``jti``) logged out before they expire (pruned after expiry).
* usernames in their normal form (NFKC, trimmed, lower case); two accounts that would then share a
  name stop the upgrade, naming them.
* ``ix_audit_log_login``: the per-account login back-off counts recent failures in the audit log.
* ``residence_people_consistent``: elderly + children ≤ population (and neither negative).
* ``area_worker_phone_work``: the grid worker's public phone is a work number (landline with area
  code, service hotline, or a mobile marked 工作手机/工作电话), never a bare mobile.

Rows that break one of the two rules stop the upgrade with a message naming them and the fix
(nothing is changed silently).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from layers.errors import ValidationFailed

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WORK_PHONE = (
    "^(0[1-9][0-9]{1,2}-?[0-9]{7,8}((-|转)[0-9]{1,6})?|1[0-9]{4}|9[56][0-9]{3,6}"
    "|[48]00-?[0-9]{3}-?[0-9]{4}|工作(电话|手机)[:：]? ?1[3-9][0-9]{9})$"
)
PEOPLE = "elderly >= 0 AND children >= 0 AND elderly + children <= population"
NORMAL = "lower(btrim(normalize(username, NFKC)))"


def _refuse_if_any(sql: str, problem: str, fix: str) -> None:
    ids = [str(r[0]) for r in op.get_bind().execute(sa.text(sql)).fetchmany(20)]
    if ids:
        raise ValidationFailed(
            f"migration 0012 cannot start: {problem}: {', '.join(ids)}. {fix}, then run "
            "`minqing db migrate` again"
        )


def upgrade() -> None:
    _refuse_if_any(
        f"SELECT residence_id FROM residences WHERE NOT ({PEOPLE}) ORDER BY residence_id",
        "these residences count more elderly and children than people (residence_id)",
        "Correct their population, elderly and children",
    )
    _refuse_if_any(
        f"SELECT area_id FROM areas WHERE worker_phone !~ '{WORK_PHONE}' ORDER BY area_id",
        "these areas publish a grid worker phone that is not a work number (area_id)",
        "Replace it with an office landline (0755-12345678), a hotline, or a work mobile written "
        "as 工作手机 13912345678, or clear it",
    )
    _refuse_if_any(
        f"SELECT string_agg(username, ' / ') FROM users GROUP BY {NORMAL} HAVING count(*) > 1",
        "these accounts differ only in letter case, width or spaces",
        "Rename or delete all but one of each group (`minqing users list`)",
    )
    op.execute(f"UPDATE users SET username = {NORMAL} WHERE username <> {NORMAL}")

    op.add_column(
        "users", sa.Column("token_version", sa.Integer(), server_default=sa.text("1"), nullable=False)
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column(
            "user_id", sa.BigInteger(), sa.ForeignKey("users.user_id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_revoked_tokens_user_id", "revoked_tokens", ["user_id"])
    op.execute("SELECT minqing_audit_table('revoked_tokens', false)")
    op.create_index(
        "ix_audit_log_login", "audit_log", ["object_id", "at"], postgresql_where=sa.text("layer = 'login'")
    )
    op.create_check_constraint("residence_people_consistent", "residences", PEOPLE)
    op.create_check_constraint("area_worker_phone_work", "areas", f"worker_phone ~ '{WORK_PHONE}'")


def downgrade() -> None:
    op.drop_constraint("area_worker_phone_work", "areas", type_="check")
    op.drop_constraint("residence_people_consistent", "residences", type_="check")
    op.drop_index("ix_audit_log_login", table_name="audit_log")
    op.drop_table("revoked_tokens")
    op.drop_column("users", "token_version")
