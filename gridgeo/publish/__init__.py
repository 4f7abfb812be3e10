"""The public grid pages: a static site any web server or intranet can host.

:func:`publish_site` writes one page per community (interactive map with the grids,
their labels and posted contacts; the same facts as an HTML table; a link to the
printable board), an index by street, the data as JSON and every asset locally
(the vendored Leaflet; no CDN). No page carries an inline script, so a
``script-src 'self'`` Content-Security-Policy holds.
"""

from gridgeo.publish.site import Basemap, PublishResult, basemap_from_settings, publish_site

__all__ = ["Basemap", "PublishResult", "basemap_from_settings", "publish_site"]
