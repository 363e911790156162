"""memcpy for numba kernels: copying field bytes with a byte loop costs 3-4x more on short values.

Shared by parsers/kernel.py and parsers/w3c_kernel.py; cacheable, unlike a ctypes call.
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def copy_bytes(typingctx, dst, dst_at, src, src_at, count):  # type: ignore[no-untyped-def]
    """memcpy(dst + dst_at, src + src_at, count) on two uint8 arrays."""
    signature = types.void(dst, types.int64, src, types.int64, types.int64)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        dst_array, dst_index, src_array, src_index, length = args
        target = context.make_array(sig.args[0])(context, builder, dst_array)
        source = context.make_array(sig.args[2])(context, builder, src_array)
        cgutils.raw_memcpy(builder, builder.gep(target.data, [dst_index]), builder.gep(source.data, [src_index]),
                           length, 1)

    return signature, codegen
