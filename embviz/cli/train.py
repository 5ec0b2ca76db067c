"""Commands of this group are registered on the app here (see embviz/cli/__init__.py)."""
