"""The web dashboard at /ui, served by the API (see views)."""
