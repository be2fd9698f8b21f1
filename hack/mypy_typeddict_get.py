"""mypy plugin: ``td.get("key")`` on a TypedDict must name one of its keys.

mypy reports ``td["typo"]`` but types ``td.get("typo")`` as ``object`` without a word, so a field
name misspelled in a ``.get`` (the usual way to read an optional Kubernetes field) would pass. The
read views of kruise_py/api/views.py rely on this: with it, both spellings are checked.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy.plugin import MethodContext, Plugin
from mypy.plugins.common import try_getting_str_literals
from mypy.plugins.default import typed_dict_get_callback
from mypy.types import Type, TypedDictType, get_proper_type


def _checked_get(ctx: MethodContext) -> Type:
    td = get_proper_type(ctx.type)
    if isinstance(td, TypedDictType) and ctx.args and len(ctx.args[0]) == 1:
        for key in try_getting_str_literals(ctx.args[0][0], ctx.arg_types[0][0]) or ():
            if key not in td.items:
                ctx.api.msg.typeddict_key_not_found(td, key, ctx.args[0][0])
    # The first plugin with a hook wins: mypy's own (the precise return type) must be called here.
    return typed_dict_get_callback(ctx)


class _TypedDictGet(Plugin):
    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        return _checked_get if fullname == "typing.Mapping.get" else None


def plugin(version: str) -> type[Plugin]:
    return _TypedDictGet
