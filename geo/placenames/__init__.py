"""Place-name (地名) rules: pinyin sign text, rule checks, search and sign coverage.

Pure functions over names and DataFrames; the editable tables live in ``data/placenames/`` and are
read through :mod:`geo.placenames.tables`.
"""
