"""The console's views, one module per area; each handler is tagged with ``requires``."""
