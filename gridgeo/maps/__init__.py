"""Maps that work offline (government intranets): folium with vendored Leaflet.

Public helpers live in :mod:`gridgeo.maps.offline`.
"""

from gridgeo.maps.offline import (
    OfflineAssetError,
    OfflineMap,
    RawHtml,
    add_geodataframe,
    external_references,
    offline_map,
    render_offline,
    save_offline,
)

__all__ = [
    "OfflineAssetError",
    "OfflineMap",
    "RawHtml",
    "add_geodataframe",
    "external_references",
    "offline_map",
    "render_offline",
    "save_offline",
]
