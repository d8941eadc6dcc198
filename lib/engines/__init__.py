"""The engines behind the tools: one interface, two implementations (local CPU, Replicate).

Every engine takes and returns Pillow images that lib.images has already validated,
oriented and stripped of metadata:

    run(tool, image, options) -> PIL.Image.Image
        tool "denoise":          RGB in  -> RGB out, same size
        tool "remove_bg":        RGB in  -> RGBA out (alpha = subject), same size
        tool "remove_watermark": RGB in + options["mask"] (L, same size, 255 = remove) -> RGB out
    detect_watermark(image) -> PIL.Image.Image   L mode, same size, 255 = watermark

Engines raise lib.errors subclasses (UpstreamError, UpstreamTimeout, ...) and nothing else.
"""

import contextlib
import threading

from lib import config

_engines = {}  # name -> engine, built on first use
_lock = threading.Lock()


def get_engine(name=None):
    """The engine named by IMGMEND_ENGINE (built lazily, once per process)."""
    name = name or config.engine_name()
    with _lock:
        if name not in _engines:
            if name == "replicate":
                from lib.engines.replicate import ReplicateEngine

                _engines[name] = ReplicateEngine()
            else:
                from lib.engines.local import LocalEngine

                _engines[name] = LocalEngine()
        return _engines[name]


@contextlib.contextmanager
def use(engine, name=None):
    """Serve `engine` under its name (or `name`) inside the block, then restore what was there.

    Tests use it to run the pipeline on a stand-in or freshly configured engine.
    """
    name = name or engine.name
    with _lock:
        before = _engines.get(name)
        _engines[name] = engine
    try:
        yield engine
    finally:
        with _lock:
            if before is None:
                _engines.pop(name, None)
            else:
                _engines[name] = before


def forget(name):
    """Drop the engine built for `name`, so the next use builds it afresh (settings re-read)."""
    with _lock:
        _engines.pop(name, None)
