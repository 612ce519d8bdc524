"""Errors of the web maps; each message names the bad value and the fix."""

from __future__ import annotations


class MapsError(Exception):
    """Base class of the maps' errors."""


class AssetsMissing(MapsError):
    def __init__(self, file: str) -> None:
        super().__init__(
            f"地图脚本未安装 map assets missing: node_modules/{file} not found. "
            "Run `make setup` (or `cd maps/assets && npm ci`) to install the npm packages."
        )
        self.file = file


class NoMapData(MapsError):
    def __init__(self, layer: str) -> None:
        super().__init__(
            f"没有可显示的数据 no data to map: layer {layer!r} is empty. "
            "Load data first, e.g. `minqing demo load` for the fictional demo district."
        )
        self.layer = layer
