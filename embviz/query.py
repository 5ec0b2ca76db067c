"""Deprecated: moved to :mod:`embviz.search`; this alias is removed in the next minor release.

``import embviz.query`` keeps working for one release and warns once (``DeprecationWarning``).
"""

from __future__ import annotations

import warnings

from embviz.search import *  # noqa: F403
from embviz.search import __all__  # noqa: F401

warnings.warn(
    "embviz.query moved to embviz.search and will be removed in the next minor release; import from embviz.search",
    DeprecationWarning,
    stacklevel=2,
)
