"""Griffe extension: the Sphinx roles of spikecore's docstrings as Markdown code.

The docstrings name code with Sphinx roles (``:func:`to_torch```, ``:class:`~x.Graph```);
Markdown would print the role itself. This turns each into inline code of the name it
shows (``~`` keeps the last part; a leading ``.`` is dropped), and reST's double-backtick
literals into single-backtick code.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj|const):`(~?)\.?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def _role(m: re.Match) -> str:
    name = m.group(2)
    if m.group(1):
        name = name.rsplit(".", 1)[-1]
    return f"`{name}`"


def markdown(text: str) -> str:
    return _LITERAL.sub(r"`\1`", _ROLE.sub(_role, text))


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring once it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
