"""Deprecated: moved to :mod:`embviz.io`; this alias is removed in the next minor release.

``import embviz.formats`` keeps working for one release and warns once (``DeprecationWarning``).
"""

from __future__ import annotations

import warnings

from embviz.io import *  # noqa: F403
from embviz.io import __all__  # noqa: F401

warnings.warn(
    "embviz.formats moved to embviz.io and will be removed in the next minor release; import from embviz.io",
    DeprecationWarning,
    stacklevel=2,
)
