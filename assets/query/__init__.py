"""The device query language: `status:offline AND tag:site=suzhou AND attr:capacity>=500 AND last_online<7d`.

`parse(text)` gives a tree (assets.query.ast), `apply_query(devices, tree, context)` narrows a queryset
that is already `Device.objects.visible_to(user)`; errors are QueryError (message, column, token).
The console's and the API's filter parameters become trees of the same kind (shorthands).
"""

from .ast import Node, all_of
from .compiler import QueryContext, apply_query, compile_node, context_for
from .errors import QueryError
from .parser import parse
from .structured import StructuredQueryError

__all__ = ["Node", "QueryContext", "QueryError", "StructuredQueryError", "all_of", "apply_query", "compile_node",
           "context_for", "parse"]
