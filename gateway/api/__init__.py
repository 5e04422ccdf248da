"""The HTTP surface: TRS routes, health endpoints and the status page."""
