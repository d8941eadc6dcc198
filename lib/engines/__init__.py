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

from lib import config

_engines = {}


def get_engine(name=None):
    """The engine named by IMGMEND_ENGINE (built lazily, once per process)."""
    name = name or config.engine_name()
    if name not in _engines:
        if name == "replicate":
            from lib.engines.replicate import ReplicateEngine

            _engines[name] = ReplicateEngine()
        else:
            from lib.engines.local import LocalEngine

            _engines[name] = LocalEngine()
    return _engines[name]
