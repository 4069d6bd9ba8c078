"""Typed lists for the learning phase: reading one without reference counts, and making one fast.

``lst[i]`` in compiled code increments the reference count of every array in the item (an atomic add
each, and a decrement when the item goes out of scope): for the learning links, tuples of ~50 arrays,
that is ~1 us per link and step, more than a small projection's learning arithmetic. ``borrowed_item``
loads the item in place and counts nothing. It is for functions compiled with ``_nrt=False`` (which
count nothing either; with ``no_cpython_wrapper=True``, as a typed list cannot be unboxed there), whose
caller keeps the list, and so every array in it, alive for the whole call. The index is not checked:
the caller guarantees ``0 <= i < len(lst)``.
"""
from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.typed.typedobjectutils import _container_get_data

__all__ = ["borrowed_item", "empty_copy"]


@intrinsic
def borrowed_item(typingctx, lst, index):
    """``lst[index]`` of a typed list (``numba.typed.List``), borrowed: no reference counts, no bounds
    check (see the module docstring)."""
    if not isinstance(lst, types.ListType) or not isinstance(index, types.Integer):
        return None
    sig = lst.item_type(lst, types.intp)

    def codegen(context, builder, sig, args):
        list_ty = sig.args[0]
        l, i = args
        voidptr = ir.IntType(8).as_pointer()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(voidptr, [voidptr]),
                                            "numba_list_base_ptr")      # numba's C helper: the item array
        fn.attributes.add("alwaysinline")
        fn.attributes.add("nounwind")
        fn.attributes.add("readonly")
        base = builder.call(fn, [_container_get_data(context, builder, list_ty, l)])
        item_ty = context.get_data_type(list_ty.item_type)
        ptr = cgutils.gep(builder, builder.bitcast(base, item_ty.as_pointer()), i)
        return context.data_model_manager[list_ty.item_type].load_from_data_pointer(builder, ptr)

    return sig, codegen


@njit(cache=True)
def empty_copy(lst):
    """A new, empty typed list of the type of ``lst`` (``numba.typed.List``; ``lst`` is not changed).

    ``numba.typed.List(lsttype=...)`` types its item type in Python on every call (~60 us for a
    learning link's tuple of ~50 arrays, ~200 us where the interpreter's caches are cold); this
    call types only ``lst`` (~2 us), so a template list of each type makes new lists for ~6 us."""
    out = lst.copy()
    out.clear()
    return out
