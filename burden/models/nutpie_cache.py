"""nutpie's two C callbacks (log density with gradient, and the trace's values), kept in
PyTensor's compile folder so that a later process loads them instead of compiling them.

``nutpie.compile_pymc_model`` wraps PyTensor's compiled log density in a Numba ``cfunc``.
PyTensor caches its own function on disk, but the ``cfunc`` that calls it is compiled anew
in every process, and compiling it links in the whole log density's LLVM code and
optimises and generates machine code for it again. Cached, the five models' warm
compilation took 34.2 s instead of 73.9 s (``python analysis/nutpie_cfunc_cache.py``,
2026-12-01 13:57; docs/performance.md, "nutpie's C callbacks cached").

Numba can cache a ``cfunc`` (nutpie passes ``cache=True`` through), but the index key it
uses for a closure pickles the closure's contents, and a Numba dispatcher pickles with a
random per-process id: every process missed the cache and added an entry. Inside
``cached_callbacks()`` each ``cfunc`` gets an index key built from what determines its code:

- PyTensor's own cache key of the compiled function it calls (which covers the graph and
  its constants); without one (PyTensor could not cache it) nothing is cached;
- the callback's bytecode and signature, its integer sizes, and the layout of the shared
  data it unpacks (names, ranks, shapes and dtypes);
- the versions of nutpie, Numba, llvmlite and PyTensor, and Numba's optimisation level.

nutpie names the shared data with random ids, which would enter the compiled code; here
they are numbered in order instead. The cached machine code is the code compiled from the
same LLVM module, so the draws are the same cached or not (tested, with the draws of
``nutpie.compile_pymc_model`` itself).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any

import numpy as np

#: packages whose code ends up in the callbacks
_VERSIONED = ("nutpie", "numba", "llvmlite", "pytensor")
#: ``cached_callbacks`` swaps module attributes: one compilation at a time
_LOCK = threading.RLock()


class _SharedName:
    """Stands in for ``uuid.uuid4()`` in nutpie: ``.hex`` is a numbered name."""

    def __init__(self, number: int):
        self.hex = f"shared_{number:04d}"


def _closure(func: Any) -> dict[str, Any]:
    code = func.__code__
    return {name: cell.cell_contents
            for name, cell in zip(code.co_freevars, func.__closure__ or ())}


def callback_key(raw: Any, sig: Any) -> str | None:
    """The index key of the ``cfunc`` nutpie compiles from ``raw``, or None when the
    PyTensor function it calls has no cache key."""
    import numba
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    cells = _closure(raw)
    extract = cells.get("extract")
    if extract is None:
        return None
    extract_cells = _closure(extract.py_func)
    inner = getattr(extract_cells.get("inner"), "py_func", None)
    inner_key = CACHED_SRC_FUNCTIONS.get(inner) if inner is not None else None
    if inner_key is None:
        return None
    h = hashlib.sha256()
    for name in _VERSIONED:
        h.update(f"{name}={version(name)};".encode())
    h.update(f"opt={numba.config.OPT};sig={sig};".encode())
    h.update(raw.__code__.co_code)
    h.update(repr(raw.__code__.co_consts).encode())
    h.update(extract.py_func.__code__.co_code)
    h.update(inner_key.encode())
    for name, value in sorted(cells.items()):
        if isinstance(value, (int, np.integer)):
            h.update(f"{name}={int(value)};".encode())
    record = extract_cells.get("record_dtype")
    if record is not None:
        h.update(str(np.dtype(record).descr).encode())
    for arr in extract_cells.get("shared_tuple", ()):
        h.update(f"{np.asarray(arr).shape}:{np.asarray(arr).dtype};".encode())
    return h.hexdigest()


def _keyed_cache(raw: Any, key: str) -> Any:
    from numba.core.caching import FunctionCache
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    class KeyedFunctionCache(FunctionCache):
        def _index_key(self, sig, codegen):
            return (sig, codegen.magic_tuple(), key)

    # PyTensor's locator: the file goes to its Numba cache folder, named by the key
    CACHED_SRC_FUNCTIONS[raw] = key
    return KeyedFunctionCache(raw)


def _cached_cfunc(sig: Any, locals: Any = None, cache: bool = False, **options: Any) -> Any:
    """``numba.cfunc`` with the index key of ``callback_key``."""
    from numba.core import sigutils
    from numba.core.ccallback import CFunc

    signature = sigutils.normalize_signature(sig)

    def wrapper(raw: Any) -> Any:
        res = CFunc(raw, signature, locals=dict(locals or {}), options=options)
        key = callback_key(raw, signature)
        if key is not None:
            res._cache = _keyed_cache(raw, key)
        with warnings.catch_warnings():
            # a callback whose code holds a constant over Numba's size limit is not
            # cached: it is compiled as before
            warnings.filterwarnings("ignore", message="Cannot cache compiled function")
            res.compile()
        return res

    return wrapper


@contextmanager
def cached_callbacks() -> Iterator[None]:
    """Within: ``nutpie.compile_pymc_model(..., backend="numba")`` loads its callbacks
    from PyTensor's compile folder when an earlier process compiled the same ones."""
    import numba
    from nutpie import compile_pymc

    with _LOCK:
        counter = itertools.count()
        saved = compile_pymc.uuid4, numba.cfunc
        compile_pymc.uuid4 = lambda: _SharedName(next(counter))
        numba.cfunc = _cached_cfunc
        try:
            yield
        finally:
            compile_pymc.uuid4, numba.cfunc = saved


def cache_hits(compiled: Any) -> int:
    """How many of ``compiled``'s two callbacks were loaded from the cache."""
    return int(compiled.compiled_logp_func._cache_hits
               + compiled.compiled_expand_func._cache_hits)
