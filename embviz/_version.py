"""The version of embviz (read by the build backend, hatchling, and by the package)."""

__version__ = "0.2.0"
