"""The check result of every place name, kept in ``place_name_results`` (migration 0039).

``ensure`` recomputes them all (``layers.placenames.check_registry`` → ``geo.placenames.results``) when
the data versions of ``place_names`` or ``place_name_reviews`` moved on since they were stored, under a
lock so two processes do not both do it. Duplicates and homophones make one name's edit change the
results of others: the results are recomputed as a whole, never patched. Called before a clustered
place-name tile is made (``pipeline.tiles``), so a tile never counts results older than its data.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from geo.placenames.results import check_results
from layers import placenames
from layers.features import data_token

BASIS = ("place_names", "place_name_reviews")


def ensure(s: Session) -> bool:
    """Bring the stored results up to date with the registry; True when they were recomputed."""
    if placenames.results_basis(s) == data_token(s, BASIS):
        return False
    placenames.lock_results(s)
    basis = data_token(s, BASIS)  # read again: another process may have done it while we waited
    if placenames.results_basis(s) == basis:
        return False
    names = placenames.registry(s, current=False).reset_index()
    checks = check_results(names, placenames.check_registry(s))
    placenames.store_results(s, checks["result"].set_axis(names["name_id"].to_numpy()), basis)
    return True


def basis(s: Session) -> str:
    """The data versions results computed from data read from now on are at least as new as."""
    return data_token(s, BASIS)


def keep(s: Session, taken: str, results: pd.Series) -> None:
    """Store ``results`` (name_id → result) computed elsewhere (the place-name page) from data read after
    ``taken`` (``basis``), unless results of that basis are stored: the first clustered tile after an
    edit then need not compute them again. (Labelled with a basis no newer than their data, they are
    recomputed by ``ensure`` if the data moved on meanwhile.)"""
    if placenames.results_basis(s) == taken:
        return
    placenames.lock_results(s)
    if placenames.results_basis(s) != taken:
        placenames.store_results(s, results, taken)
