"""The ``gridgeo`` command line (Typer). Thin: parse, call the library, print, map errors."""
