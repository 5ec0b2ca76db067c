"""``python -m embviz``."""

from embviz.cli import main

main()
