"""The tool pipeline end to end: upload -> checks -> engine -> encoded result."""

import io
import time

from PIL import Image
from werkzeug.wrappers import Response

from lib import analytics, catalog, config, http, images, pro as pro_access, quota
from lib.engines import get_engine
from lib.errors import InvalidRequest, NoWatermarkFound, UpstreamError


def pro_customer(request):
    """The Pro customer named by a valid bearer token, or None for a free user.

    This is the one place where Pro bypasses the free quota. Checking a token is a signature check
    and one revocation lookup in the counter store (no Stripe call); a bad or revoked token is a
    401, never silently treated as a free request.
    """
    claims = pro_access.claims(request)
    return None if claims is None else claims.customer


def _options(tool, upload, photo):
    """Validate a tool's options from the form fields (and the mask part)."""
    options = {}
    if tool == "remove_bg":
        value = upload.fields.get("background", "transparent").strip().lower() or "transparent"
        options["background"] = None if value == "transparent" else images.parse_color(value)
    if tool in ("denoise", "remove_watermark"):
        # How much of the noise the input's JPEG made blocky; how much error round a mark's edges.
        options["jpeg_quality"] = photo.jpeg_quality
    if upload.mask is not None and not catalog.get(tool).takes_mask:
        raise InvalidRequest("Only the watermark remover takes a mask.")
    if upload.mask is not None:
        options["mask"] = images.load_mask(upload.mask, photo.image.size)
        options["mask_type"] = "manual"  # a user's brush (bria/eraser is told which kind it gets)
    return options


def _finish(tool, photo, result, options):
    """Bring the engine's result back to the input's size, alpha, colour and format family."""
    size = photo.image.size
    if result.size != size:  # some hosted models pad or rescale; the contract promises the input's size
        result = result.resize(size, Image.Resampling.LANCZOS)
    fmt = photo.format
    if tool == "remove_bg":
        alpha = result.getchannel("A") if result.mode == "RGBA" else Image.new("L", size, 255)
        if photo.has_alpha:  # already-transparent pixels stay transparent
            from PIL import ImageChops

            alpha = ImageChops.darker(alpha, photo.alpha())
        rgb = result.convert("RGB")  # a new image: safe to change in place
        del result  # the engine's copy is no longer needed: keep one full-size image alive, not two
        if options.get("background") is None:
            result = rgb
            result.putalpha(alpha)
            fmt = "PNG"
        else:
            result = Image.new("RGB", size, options["background"])
            result.paste(rgb, mask=alpha)
    else:
        wanted = "L" if photo.is_grey else "RGB"
        result = result if result.mode == wanted else result.convert(wanted)  # the engine's own copy
        if photo.has_alpha:
            result.putalpha(photo.alpha())
    return images.encode(result, fmt, photo.icc_profile)


def _image_response(data, fmt, tool, remaining):
    headers = {
        "Content-Disposition": f'inline; filename="imgmend-{catalog.get(tool).suffix}.{images.EXTENSION[fmt]}"',
        "Cache-Control": "no-store",
    }
    if remaining is not None:
        headers["X-Quota-Remaining"] = str(remaining)
    return Response(data, headers=headers, mimetype=images.MIME[fmt])


def run_tool(tool, request, engine=None):
    """Run one tool on the uploaded photo and answer with the repaired photo.

    `engine` defaults to the configured one (lib.engines.get_engine); tests may pass their own.
    """
    with analytics.tool_run(tool):  # every outcome counts, refusals before the engine included
        return _run_tool(tool, request, engine)


def _run_tool(tool, request, engine):
    started = time.monotonic()  # the engine's deadline counts from here (lib.config.REPLICATE_DEADLINE_S)
    client = quota.client_id(http.client_network(request))
    pro = pro_customer(request)
    quota.check_rate(client)
    if pro is not None:
        quota.check_pro_rate(pro)  # one Pro key used from many addresses is still one customer
    upload = http.read_image_upload(request)
    photo = images.load_photo(upload.image)
    options = _options(tool, upload, photo)
    options["started"] = started
    engine = engine or get_engine()
    http.annotate(engine=engine.name)
    if tool == "remove_watermark" and options.get("mask") is None:
        _detect_mask(engine, photo, options)  # before the quota: finding nothing spends nothing
    if pro is not None:
        data, fmt = _process(engine, tool, photo, options)
        remaining = None
    else:
        with quota.spend_one(client) as remaining:
            data, fmt = _process(engine, tool, photo, options)
    return _image_response(data, fmt, tool, remaining)


def _detect_mask(engine, photo, options):
    """A watermark run without a mask: the detector's mask, or 422 no_watermark_found when it is empty."""
    mask = engine.detect_watermark(photo.rgb())
    if images.mask_is_empty(mask):
        raise NoWatermarkFound()  # no prediction and no free image for nothing; the site opens the brush
    options["mask"], options["mask_type"] = mask, "automatic"


def _process(engine, tool, photo, options):
    """Engine run plus encoding."""
    result = engine.run(tool, photo.rgb(), options)
    return _finish(tool, photo, result, options)


def suggest_mask(request, engine=None):
    """Detect a watermark and answer with the mask (PNG, L, white = watermark); no quota spent."""
    client = quota.client_id(http.client_network(request))
    pro_customer(request)
    quota.check_rate(client)
    upload = http.read_image_upload(request)
    photo = images.load_photo(upload.image)
    engine = engine or get_engine()
    http.annotate(engine=engine.name)
    mask = engine.detect_watermark(photo.rgb()).convert("L")
    if mask.size != photo.image.size:
        mask = mask.resize(photo.image.size, Image.Resampling.NEAREST)
    return Response(_mask_png(mask), mimetype="image/png", headers={"Cache-Control": "no-store"})


def _mask_png(mask):
    """The mask as a lossless PNG: 8-bit grey, or 1-bit when only that fits the response limit."""
    for candidate in (mask, mask.point(lambda v: 255 if v >= 128 else 0).convert("1")):
        buf = io.BytesIO()
        candidate.save(buf, "PNG", optimize=False, compress_level=6)
        if buf.tell() <= config.MAX_RESPONSE_BYTES:
            return buf.getvalue()
    # A detector's mask is a few smooth blobs; a 40 MP 1-bit PNG of pure noise is 5 MB at most.
    raise UpstreamError(f"The suggested mask could not be encoded within the {config.size_label(config.PLATFORM_BODY_BYTES)} response limit.")


def public_config(request):
    """Public settings for the browser: limits, free quota left, engine, Pro availability."""
    limit = config.free_daily_limit()
    try:
        left = quota.remaining(quota.client_id(http.client_network(request)))
    except Exception:  # e.g. not configured: the page still needs its limits
        left = None
    return {
        "limits": {
            "max_bytes": config.MAX_BYTES,
            "max_pixels": config.MAX_PIXELS,
            "formats": [media for fmt in config.FORMATS for media in config.FORMAT_MEDIA_TYPES[fmt]],
        },
        "free_daily_limit": limit,
        "free_remaining": left,
        "engine": config.engine_name(),
        "pro_available": bool(config.env("STRIPE_SECRET_KEY") and config.env("STRIPE_PRICE_ID")),
        "pro_price": config.env("PRO_DISPLAY_PRICE"),
    }
