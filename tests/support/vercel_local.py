"""`vercel build` offline on a copy of the project, and its functions served through vercel-runtime.

The build is the real CLI (npm vercel, pinned in package.json) with @vercel/python, uv and Python 3.12.
A built function is laid out the way the platform unpacks it (the .func directory plus every file of
its `filePathMap`) and started the way Vercel's Python runtime starts it: `vc__handler__python`
imported by a Python 3.12 with nothing installed, `VERCEL_IPC_PATH` naming a Unix socket on which
vercel_runtime announces the loopback HTTP port it serves the function on (`server-started`) and
reports each request (`handler-started`, `log`, `end`).
"""

import glob
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
# What `vercel link` would write; with it the CLI builds without an account or network.
PROJECT_JSON = {"projectId": "prj_offline", "orgId": "team_offline", "settings": {"framework": None}}
# Without git: local tools, caches and test output are not the project (Vercel never receives them).
SKIP_NAMES = {".git", ".venv", "node_modules", ".vercel", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
SKIP_PATHS = {"bench/out", "tests/artifacts"}


def _runs(python, version="3.12"):
    """True when `python` starts and is the wanted major.minor (a pyenv shim may exist yet fail)."""
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def find_uv():
    """The uv binary: on PATH or beside the interpreter running the tests (.venv/bin/uv)."""
    beside = pathlib.Path(sys.executable).parent / "uv"
    return shutil.which("uv") or (str(beside) if beside.exists() else None)


def find_python312(uv=None):
    """A working python3.12: $IMGMEND_PYTHON312, PATH, pyenv's versions, or one uv already knows."""
    candidates = [os.environ.get("IMGMEND_PYTHON312"), shutil.which("python3.12")]
    pyenv_roots = [os.environ.get("PYENV_ROOT"), os.path.expanduser("~/.pyenv")]
    if shutil.which("pyenv"):
        pyenv_roots.insert(0, subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip())
    for root in filter(None, pyenv_roots):
        candidates += sorted(glob.glob(os.path.join(root, "versions", "3.12*", "bin", "python3.12")), reverse=True)
    found = next((c for c in candidates if c and _runs(c)), None)
    if found or not uv:
        return found
    # Last resort, never a download: an interpreter uv manages or sees.
    out = subprocess.run([uv, "python", "find", "--no-python-downloads", "3.12"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 and _runs(out.stdout.strip()) else None


def find_vercel():
    """The project's pinned `vercel` CLI (node_modules/.bin/vercel, from `npm ci`), if installed."""
    cli = ROOT / "node_modules" / ".bin" / "vercel"
    return str(cli) if cli.exists() and shutil.which("node") else None


def project_files():
    """The project's files relative to ROOT: what git tracks or would track (ignored files are not the project)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True, timeout=60).stdout
        return sorted(p for p in out.decode().split("\0") if p and (ROOT / p).is_file())
    except (OSError, subprocess.SubprocessError):  # not a git checkout: skip the known local-only paths
        return sorted(
            p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
            if p.is_file() and not SKIP_NAMES & set(p.relative_to(ROOT).parts) and p.suffix != ".pyc"
            and not any(p.relative_to(ROOT).as_posix().startswith(s + "/") for s in SKIP_PATHS)
        )


def copy_project(dest):
    """Copy the project's own files into `dest` and add the offline `.vercel/project.json`."""
    dest = pathlib.Path(dest)
    for rel in project_files():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    (dest / ".vercel").mkdir(parents=True)
    (dest / ".vercel" / "project.json").write_text(json.dumps(PROJECT_JSON))
    return dest


def vercel_build(project, *, vercel, uv, python, timeout=600):
    """Run `vercel build` in `project`; returns (output dir, log text). Raises if it built nothing."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(uv), os.path.dirname(python), env.get("PATH", "")])
    env["VERCEL_TELEMETRY_DISABLED"] = "1"  # offline: nothing to send anywhere
    done = subprocess.run([vercel, "build", "--yes"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=timeout)
    log = done.stdout + done.stderr
    output = pathlib.Path(project) / ".vercel" / "output"
    # A failed build can exit 0 (no project.json, no Python 3.12): judge by what it wrote.
    builds = output / "builds.json"
    errors = [b.get("error") for b in json.loads(builds.read_text()).get("builds", [])] if builds.exists() else [None]
    if done.returncode != 0 or not (output / "config.json").exists() or not (output / "functions").is_dir() \
            or any(errors):
        raise RuntimeError(f"vercel build failed (exit {done.returncode}, {errors}):\n{log[-4000:]}")
    return output, log


def function_config(output, name):
    """The parsed .vc-config.json of api/NAME."""
    return json.loads((output / "functions" / "api" / f"{name}.func" / ".vc-config.json").read_text())


def bundle_files(project, output, name):
    """{path in the bundle: source path} for api/NAME: the .func's own files plus its filePathMap."""
    func = output / "functions" / "api" / f"{name}.func"
    files = {p.relative_to(func).as_posix(): p for p in func.rglob("*") if p.is_file() and p.name != ".vc-config.json"}
    for rel, src in function_config(output, name).get("filePathMap", {}).items():
        files[rel] = pathlib.Path(project) / src
    return files


def lay_out(project, output, name, dest):
    """Unpack api/NAME into `dest` as the platform would (hard links: cheap and read-only use)."""
    for rel, src in bundle_files(project, output, name).items():
        target = pathlib.Path(dest) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, target)
        except OSError:
            shutil.copy2(src, target)
    return pathlib.Path(dest)


def bare_python(python, uv, dest):
    """A Python 3.12 venv with nothing installed: the function must bring every package itself."""
    subprocess.run([uv, "venv", "--quiet", "--no-project", "--no-config", "--python", python, str(dest)],
                   check=True, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"}, timeout=120)
    return str(pathlib.Path(dest) / "bin" / "python")


class Function:
    """One built function running under vercel_runtime, reachable over loopback HTTP."""

    def __init__(self, name, root, config, python, env):
        self.name, self.root = name, pathlib.Path(root)
        self.messages = []  # IPC messages, in order (dicts as vercel_runtime sent them)
        self._cond = threading.Condition()
        self._dir = tempfile.mkdtemp(prefix="vcipc")  # a short path: Unix socket names are capped at 107 bytes
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(os.path.join(self._dir, "ipc"))
        self._sock.listen(1)
        module, _, _ = config["handler"].rpartition(".")  # "vc__handler__python.vc_handler"
        self.stderr_path = os.path.join(self._dir, "stderr")
        # Only what the platform sets (the config's environment) and the project's own variables.
        full_env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self._dir,
                    **config.get("environment", {}), **env, "VERCEL_IPC_PATH": os.path.join(self._dir, "ipc")}
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([python, "-c", f"import {module}"], cwd=self.root, env=full_env,
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.url = None

    def wait_started(self, timeout=90):
        """Accept the runtime's IPC connection and wait for `server-started`; sets `url`."""
        self._sock.settimeout(timeout)
        try:
            conn, _ = self._sock.accept()
        except socket.timeout:
            raise RuntimeError(f"{self.name}: no IPC connection; stderr:\n{self.stderr()}") from None
        threading.Thread(target=self._read, args=(conn,), daemon=True).start()
        started = self.wait_for(lambda m: m["type"] in ("server-started", "unrecoverable-error"), timeout)
        if started is None or started["type"] != "server-started":
            raise RuntimeError(f"{self.name}: did not start ({started}); stderr:\n{self.stderr()}")
        self.url = f"http://127.0.0.1:{started['payload']['httpPort']}"
        return self

    def _read(self, conn):
        buf = b""
        while chunk := conn.recv(65536):
            buf += chunk
            while b"\0" in buf:  # vercel_runtime ends every JSON message with a NUL byte
                raw, buf = buf.split(b"\0", 1)
                with self._cond:
                    self.messages.append(json.loads(raw))
                    self._cond.notify_all()

    def wait_for(self, predicate, timeout=30):
        """The first IPC message matching `predicate`, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((m for m in self.messages if predicate(m)), None)
                left = deadline - time.monotonic()
                if found is not None or left <= 0 or self.proc.poll() is not None:
                    return found
                self._cond.wait(min(left, 0.5))

    def stderr(self):
        """What the process wrote to stderr (the tail)."""
        return pathlib.Path(self.stderr_path).read_text(errors="replace")[-4000:]

    def stop(self):
        """Terminate the process and remove its IPC socket."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)
