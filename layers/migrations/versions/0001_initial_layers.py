"""initial layers

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:09:26.856216
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "areas",
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("urban", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("urban_rural_code", sa.String(length=3), nullable=True),
        sa.Column("worker_name", sa.String(length=60), nullable=True),
        sa.Column("worker_phone", sa.String(length=40), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "level IN ('district', 'town', 'grid_large', 'community', 'grid_middle', 'grid_small')",
            name="area_level_known",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["areas.area_id"],
        ),
        sa.PrimaryKeyConstraint("area_id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_areas_geom", "areas", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_areas_level"), "areas", ["level"], unique=False)
    op.create_index(op.f("ix_areas_parent_id"), "areas", ["parent_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("layer", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(op.f("ix_audit_log_layer"), "audit_log", ["layer"], unique=False)
    op.create_table(
        "data_versions",
        sa.Column("layer", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("layer"),
    )
    op.create_table(
        "facility_types",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_zh", sa.String(length=80), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("urban_tier", sa.String(length=10), nullable=True),
        sa.Column("urban_profile", sa.String(length=20), nullable=True),
        sa.Column("urban_max_time_min", sa.Float(), nullable=True),
        sa.Column("urban_max_distance_m", sa.Float(), nullable=True),
        sa.Column("rural_tier", sa.String(length=10), nullable=True),
        sa.Column("rural_profile", sa.String(length=20), nullable=True),
        sa.Column("rural_max_time_min", sa.Float(), nullable=True),
        sa.Column("min_floor_area_m2", sa.Float(), nullable=True),
        sa.Column("required", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "network_nodes",
        sa.Column("node_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("node_id"),
    )
    op.create_index("ix_network_nodes_geom", "network_nodes", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "scenarios",
        sa.Column("scenario_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "changes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=60), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("scenario_id"),
    )
    op.create_table(
        "water",
        sa.Column("water_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("water_id"),
    )
    op.create_index("idx_water_geom", "water", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "coverage_runs",
        sa.Column("run_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("status", sa.String(length=12), server_default="running", nullable=False),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "data_version",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("scenario_id", sa.BigInteger(), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["scenarios.scenario_id"],
        ),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "facilities",
        sa.Column("facility_id", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("floor_area_m2", sa.Float(), nullable=True),
        sa.Column("capacity", sa.Float(), nullable=True),
        sa.Column("opening_hours", sa.String(length=120), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("operator", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('open', 'planned', 'closed')", name="facility_status_known"),
        sa.ForeignKeyConstraint(
            ["type_code"],
            ["facility_types.code"],
        ),
        sa.PrimaryKeyConstraint("facility_id"),
    )
    op.create_index("ix_facilities_geom", "facilities", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_facilities_type_code"), "facilities", ["type_code"], unique=False)
    op.create_table(
        "network_edges",
        sa.Column("edge_id", sa.BigInteger(), nullable=False),
        sa.Column("u", sa.BigInteger(), nullable=False),
        sa.Column("v", sa.BigInteger(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("highway", sa.String(length=30), nullable=False),
        sa.Column("oneway", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("access", sa.String(length=20), nullable=True),
        sa.Column("foot", sa.String(length=20), nullable=True),
        sa.Column("bicycle", sa.String(length=20), nullable=True),
        sa.Column("bridge", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["u"],
            ["network_nodes.node_id"],
        ),
        sa.ForeignKeyConstraint(
            ["v"],
            ["network_nodes.node_id"],
        ),
        sa.PrimaryKeyConstraint("edge_id"),
    )
    op.create_index("ix_network_edges_geom", "network_edges", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_network_edges_u"), "network_edges", ["u"], unique=False)
    op.create_index(op.f("ix_network_edges_v"), "network_edges", ["v"], unique=False)
    op.create_table(
        "place_names",
        sa.Column("name_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=True),
        sa.Column("proper", sa.String(length=120), nullable=True),
        sa.Column("generic", sa.String(length=40), nullable=True),
        sa.Column("pinyin", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=12), server_default="standard", nullable=False),
        sa.Column("heritage", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("sign_present", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("approval", sa.String(length=200), nullable=True),
        sa.Column("meaning", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('standard', 'irregular', 'historical')", name="place_name_status_known"
        ),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.area_id"],
        ),
        sa.PrimaryKeyConstraint("name_id"),
    )
    op.create_index(op.f("ix_place_names_area_id"), "place_names", ["area_id"], unique=False)
    op.create_index(op.f("ix_place_names_category"), "place_names", ["category"], unique=False)
    op.create_index("ix_place_names_geom", "place_names", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(op.f("ix_place_names_name"), "place_names", ["name"], unique=False)
    op.create_table(
        "residences",
        sa.Column("residence_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("area_id", sa.BigInteger(), nullable=True),
        sa.Column("households", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("population", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("elderly", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("children", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("estimated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "footprint",
            geoalchemy2.types.Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.area_id"],
        ),
        sa.PrimaryKeyConstraint("residence_id"),
    )
    op.create_index(op.f("ix_residences_area_id"), "residences", ["area_id"], unique=False)
    op.create_index("ix_residences_geom", "residences", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "users",
        sa.Column("user_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=60), nullable=False),
        sa.Column("password_hash", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "role IN ('grid_worker', 'planner', 'placename_officer', 'admin')", name="user_role_known"
        ),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.area_id"],
        ),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "coverage_area",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("area_id", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("applicable", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("households", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("households_covered", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("population", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("population_covered", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("elderly", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("elderly_covered", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("children", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("children_covered", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("share", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["areas.area_id"],
        ),
        sa.ForeignKeyConstraint(["run_id"], ["coverage_runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "area_id", "type_code"),
    )
    op.create_table(
        "coverage_facility",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("facility_id", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("catchment_population", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("catchment_households", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("covered_population", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("capacity", sa.Float(), nullable=True),
        sa.Column("load", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["coverage_runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "facility_id"),
    )
    op.create_table(
        "coverage_gaps",
        sa.Column("gap_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("elderly", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("children", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("residences", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["run_id"], ["coverage_runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("gap_id"),
    )
    op.create_index(
        "idx_coverage_gaps_geom", "coverage_gaps", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(op.f("ix_coverage_gaps_run_id"), "coverage_gaps", ["run_id"], unique=False)
    op.create_index(op.f("ix_coverage_gaps_type_code"), "coverage_gaps", ["type_code"], unique=False)
    op.create_table(
        "coverage_residence",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("residence_id", sa.BigInteger(), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=True),
        sa.Column("facility_id", sa.BigInteger(), nullable=True),
        sa.Column("covered", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["coverage_runs.run_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "residence_id", "type_code"),
    )
    op.create_table(
        "place_name_history",
        sa.Column("history_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("old_name", sa.String(length=120), nullable=True),
        sa.Column("new_name", sa.String(length=120), nullable=True),
        sa.Column("approval", sa.String(length=200), nullable=True),
        sa.Column("changed_by", sa.String(length=60), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["name_id"],
            ["place_names.name_id"],
        ),
        sa.PrimaryKeyConstraint("history_id"),
    )
    op.create_index(op.f("ix_place_name_history_name_id"), "place_name_history", ["name_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_place_name_history_name_id"), table_name="place_name_history")
    op.drop_table("place_name_history")
    op.drop_table("coverage_residence")
    op.drop_index(op.f("ix_coverage_gaps_type_code"), table_name="coverage_gaps")
    op.drop_index(op.f("ix_coverage_gaps_run_id"), table_name="coverage_gaps")
    op.drop_index("idx_coverage_gaps_geom", table_name="coverage_gaps", postgresql_using="gist")
    op.drop_table("coverage_gaps")
    op.drop_table("coverage_facility")
    op.drop_table("coverage_area")
    op.drop_table("users")
    op.drop_index("ix_residences_geom", table_name="residences", postgresql_using="gist")
    op.drop_index(op.f("ix_residences_area_id"), table_name="residences")
    op.drop_table("residences")
    op.drop_index(op.f("ix_place_names_name"), table_name="place_names")
    op.drop_index("ix_place_names_geom", table_name="place_names", postgresql_using="gist")
    op.drop_index(op.f("ix_place_names_category"), table_name="place_names")
    op.drop_index(op.f("ix_place_names_area_id"), table_name="place_names")
    op.drop_table("place_names")
    op.drop_index(op.f("ix_network_edges_v"), table_name="network_edges")
    op.drop_index(op.f("ix_network_edges_u"), table_name="network_edges")
    op.drop_index("ix_network_edges_geom", table_name="network_edges", postgresql_using="gist")
    op.drop_table("network_edges")
    op.drop_index(op.f("ix_facilities_type_code"), table_name="facilities")
    op.drop_index("ix_facilities_geom", table_name="facilities", postgresql_using="gist")
    op.drop_table("facilities")
    op.drop_table("coverage_runs")
    op.drop_index("idx_water_geom", table_name="water", postgresql_using="gist")
    op.drop_table("water")
    op.drop_table("scenarios")
    op.drop_index("ix_network_nodes_geom", table_name="network_nodes", postgresql_using="gist")
    op.drop_table("network_nodes")
    op.drop_table("facility_types")
    op.drop_table("data_versions")
    op.drop_index(op.f("ix_audit_log_layer"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_areas_parent_id"), table_name="areas")
    op.drop_index(op.f("ix_areas_level"), table_name="areas")
    op.drop_index("ix_areas_geom", table_name="areas", postgresql_using="gist")
    op.drop_table("areas")
