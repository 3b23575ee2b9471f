"""A griffe extension for the API reference: the docstrings' reST roles (``:class:`x```,
``:func:`x```, ``:mod:`x``` ...) become inline code, as the Markdown they are rendered with has
no roles. Only the rendered text changes; the source is left as it is."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|obj|exc|const|ref):`~?([^`]+)`")


class RolesToCode(griffe.Extension):
    """``:role:`target``` -> ``target`` in inline code, in every docstring griffe reads."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(r"`\1`", obj.docstring.value)
