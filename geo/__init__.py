"""Pure computation: coverage over the street network, siting, place-name rules (no database, no HTTP)."""
