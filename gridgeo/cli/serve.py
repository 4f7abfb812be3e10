"""``gridgeo serve``: run the map service."""

from __future__ import annotations

import typer

from gridgeo.cli._common import console, err_console, handle_errors
from gridgeo.database.instance import port_is_free
from gridgeo.errors import GridgeoError
from gridgeo.i18n import _
from gridgeo.settings import get_settings


@handle_errors
def serve(
    host: str = typer.Option(None, help="Address to bind (default GRIDGEO_API_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default GRIDGEO_API_PORT, 8000)."),
    start_db: bool = typer.Option(True, help="Start the private PostGIS and migrate first."),
    listen: bool = typer.Option(
        True, help="Refresh the in-memory locate index on NOTIFY gridgeo_registry."
    ),
) -> None:
    """Serve the map API (OpenAPI docs at /docs). Ctrl-C stops it."""
    import uvicorn

    from gridgeo.database.lifecycle import ensure_ready
    from gridgeo.service import create_app
    from gridgeo.service.settings import ServiceSettings

    settings = get_settings()
    host = host or settings.api_host
    port = port or settings.api_port
    if start_db:
        ensure_ready(settings)
    if not port_is_free(port, host):
        raise GridgeoError(
            _(
                "port {port} on {host} is already in use (another `gridgeo serve` or "
                "`make demo`?); stop it or choose another with --port / GRIDGEO_API_PORT"
            ).format(port=port, host=host)
        )
    service_settings = ServiceSettings(listen=listen)
    base = f"http://{host}:{port}"
    console.print(
        _(
            "serving on {base} — web console {base}/console/, API docs {base}/docs; Ctrl-C stops"
        ).format(base=base)
    )
    if service_settings.admin_token is None:
        console.print(
            _(
                "tokens are issued with gridgeo tokens create (the first administrator's "
                "token: run it without a token on the machine of the database)"
            )
        )
    try:
        uvicorn.run(
            create_app(settings, service_settings), host=host, port=port, log_level="warning"
        )
    except KeyboardInterrupt:
        err_console.print(_("stopped"))
