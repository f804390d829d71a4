"""The field tables' vocabulary, as in shared/src/protocol/fields.h: field kinds (named
after that file's visitor methods), integer bounds, ``Field`` (one row of a table) and
``default_of``. Split from ``taskmill.messages``, which re-exports every name here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Tuple

# Field kinds, named after the visitor methods of shared/src/protocol/fields.h.
STR = "str"
BIN = "bin"
UINT = "uint"
INT = "int"
DOUBLE = "double"
BOOL = "bool"
STR_LIST = "str_list"
STR_MAP = "str_map"    # {str: str}
COST_MAP = "cost_map"  # {str: double}
BIN_MAP = "bin_map"    # {str: bytes}
UINT_MAP = "uint_map"  # {str: u32}
OBJ = "obj"
OBJ_LIST = "obj_list"
OPT_OBJ = "opt_obj"
OPT_INT = "opt_int"    # i32, absent = None
ENUM = "enum"          # str restricted to `choices`

U8 = 0xFF
U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF
I32: Tuple[int, int] = (-(2**31), 2**31 - 1)
I64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Field:
    """One row of a field table: wire key, attribute, kind, and the kind's details."""

    key: str
    kind: str
    required: bool = False
    attr: str = ""                  # the dataclass attribute; "" means the key itself
    cls: Optional[type] = None      # OBJ, OBJ_LIST, OPT_OBJ: the nested type
    max: int = U64                  # UINT: the largest value
    range: Tuple[int, int] = I64    # INT, OPT_INT: the allowed values
    choices: Tuple[str, ...] = ()   # ENUM: the allowed names
    unknown_as: str = ""            # ENUM: a name not in choices reads as this ("" = error)

    @property
    def name(self) -> str:
        return self.attr or self.key


def default_of(cls: type, f: Field) -> Any:
    """The default value of a field: the dataclass default, which absent keys mean."""
    for dc_field in dataclasses.fields(cls):
        if dc_field.name == f.name:
            if dc_field.default is not dataclasses.MISSING:
                return dc_field.default
            if dc_field.default_factory is not dataclasses.MISSING:
                return dc_field.default_factory()
    raise AssertionError(f"{cls.__name__} has no attribute {f.name}")
