"""Loaders: validate, transform CRS, write in one transaction (all-or-nothing)."""
