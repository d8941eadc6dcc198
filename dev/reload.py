"""api/NAME.py loaded by file path, as Vercel's bridge does, and reloaded when api/ or lib/ changes."""

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading
from pathlib import Path


class ApiModules:
    """Loads `api/NAME.py` by path; with `reload`, when any .py under api/ or lib/ changes, from source again."""

    def __init__(self, root, reload=True):
        self.root = Path(root)
        self.reload = reload
        self._lock = threading.Lock()
        self._stamp = self._fingerprint() if reload else None  # edits made before the first request count too
        self._modules = {}

    def _fingerprint(self):
        found = []
        for folder in ("api", "lib"):
            for dirpath, dirnames, filenames in os.walk(self.root / folder):
                dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
                for filename in filenames:
                    if filename.endswith(".py"):
                        path = os.path.join(dirpath, filename)
                        try:
                            stat = os.stat(path)
                        except FileNotFoundError:  # deleted while walking: the next request sees it
                            continue
                        found.append((path, stat.st_mtime_ns, stat.st_size))
        return tuple(sorted(found))

    def _forget_project_modules(self):
        # Drop every module loaded from this project's api/ or lib/ so the next import reads the
        # edited source (the server itself lives in dev/ and stays).
        folders = [str((self.root / f).resolve()) + os.sep for f in ("api", "lib")]
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if not file or name == "__main__":
                continue
            if any(os.path.realpath(file).startswith(f) for f in folders):
                del sys.modules[name]
        for module in self._modules.values():
            sys.modules.pop(module.__name__, None)
        self._modules.clear()
        importlib.invalidate_caches()

    def app_for(self, name):
        """The WSGI `app` of api/NAME.py (current source), or None when there is none."""
        path = self.root / "api" / f"{name}.py"
        with self._lock:
            if self.reload:
                stamp = self._fingerprint()
                if stamp != self._stamp:
                    self._forget_project_modules()
                    self._stamp = stamp
            # Exact, case-sensitive name as on Vercel's Linux, even on a case-insensitive disk.
            if f"{name}.py" not in _listdir(path.parent):
                return None
            if name not in self._modules:
                self._modules[name] = self._import(name, path)
        return getattr(self._modules[name], "app", None)

    def _import(self, name, path):
        # Like Vercel's bridge: the file is loaded by path, with the project root on sys.path. The
        # private module name keeps it apart from `api.NAME` imported by tests in the same process.
        module_name = f"_devserver_api_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}_{name}"
        loader = _SourceOnlyLoader(module_name, str(path))
        spec = importlib.util.spec_from_file_location(module_name, path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        return module


class _SourceOnlyLoader(importlib.machinery.SourceFileLoader):
    """Compiles from source every time: a .pyc records the source's mtime in whole seconds, so an
    edit of the same size within the same second would otherwise run the old code."""

    def get_code(self, fullname):
        return self.source_to_code(self.get_data(self.path), self.path)


def _listdir(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []
