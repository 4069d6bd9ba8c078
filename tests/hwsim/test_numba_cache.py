"""The numba cache guard covers every compiled source: a module with @njit functions, and every hwsim
module that such a module imports (its constants are frozen into the compiled code), is hashed."""
from __future__ import annotations

import ast
import os

import hwsim
from hwsim import _numba_cache

ROOT = os.path.dirname(os.path.abspath(hwsim.__file__))


def _modules():
    for d, _, files in os.walk(ROOT):
        for n in files:
            if n.endswith(".py"):
                yield os.path.join(d, n)


def _hwsim_imports(path):
    """Files of the hwsim modules imported by ``path`` (relative and absolute imports)."""
    tree = ast.parse(open(path).read())
    pkg = os.path.dirname(path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg
                for _ in range(node.level - 1):
                    base = os.path.dirname(base)
            elif (node.module or "").startswith("hwsim"):
                base = os.path.dirname(ROOT)
            else:
                continue
            mod = node.module or ""
            parts = [p for p in mod.split(".") if p]
            target = os.path.join(base, *parts)
            names = [a.name for a in node.names]
            for cand in [target + ".py", os.path.join(target, "__init__.py")] + \
                        [os.path.join(target, n + ".py") for n in names]:
                if os.path.isfile(cand) and cand.startswith(ROOT):
                    out.add(os.path.abspath(cand))
    return out


def _has_njit(path) -> bool:
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                f = d.func if isinstance(d, ast.Call) else d
                name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
                if name in ("njit", "jit", "vectorize", "guvectorize"):
                    return True
    return False


def test_every_compiled_module_and_its_imports_are_hashed():
    covered = set(_numba_cache.compiled_sources())
    compiled = [p for p in _modules() if _has_njit(p)]
    assert len(compiled) >= 8
    for p in compiled:
        assert p in covered, f"{os.path.relpath(p, ROOT)} defines numba kernels but is not hashed"
        for dep in _hwsim_imports(p):
            if not dep.endswith("__init__.py"):
                assert dep in covered, (f"{os.path.relpath(p, ROOT)} imports {os.path.relpath(dep, ROOT)}, "
                                        "which the cache guard does not hash")


def test_an_edit_clears_the_cache(tmp_path, monkeypatch):
    """A changed hash removes the cached machine code of every compiled folder."""
    caches = [os.path.join(ROOT, d, "__pycache__") for d in _numba_cache.COMPILED_DIRS
              if os.path.isdir(os.path.join(ROOT, d))]
    marker = [os.path.join(c, "zz_guard_test.nbi") for c in caches]
    for m in marker:
        open(m, "w").close()
    real = _numba_cache.source_hash()
    monkeypatch.setattr(_numba_cache, "source_hash", lambda: real + "-edited")
    _numba_cache.drop_stale_cache()
    assert not any(os.path.exists(m) for m in marker)
    monkeypatch.setattr(_numba_cache, "source_hash", lambda: real)
    _numba_cache.drop_stale_cache()          # restore the stamp of the real sources
