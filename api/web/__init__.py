"""Web pages for organization departments, served next to the API under /web
(api/web/routes.py wires them)."""
