// imgmend: a photo from the user's device, checked against what the server takes (/api/config
// limits.formats, so a format the server learns works here without a site change), fitted to the
// limits in the browser, and named.
"use strict";

(() => {
  const app = window.imgmend;

  // How to recognise a format from its first bytes (never the name). Which of them are accepted is
  // the server's word: /api/config limits.formats.
  const BRANDS = { avif: "image/avif", avis: "image/avif", heic: "image/heic", heix: "image/heic", hevc: "image/heic",
    hevx: "image/heic", heim: "image/heic", heis: "image/heic", mif1: "image/heif", msf1: "image/heif" };
  const NAMES = { "image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP", "image/gif": "GIF", "image/heic": "HEIC",
    "image/heif": "HEIF", "image/avif": "AVIF", "image/tiff": "TIFF", "image/bmp": "BMP", "image/jxl": "JPEG XL" };
  const EXTENSIONS = { "image/jpeg": ".jpg,.jpeg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
    "image/heic": ".heic", "image/heif": ".heif,.heic", "image/avif": ".avif", "image/tiff": ".tif,.tiff", "image/bmp": ".bmp",
    "image/jxl": ".jxl" };
  // Converted here before upload (first frame, as PNG) when the server takes PNG.
  const CONVERTED = { "image/gif": "image/png" };

  async function sniff(file) {
    const b = new Uint8Array(await file.slice(0, 64).arrayBuffer());
    const ascii = (from, to) => String.fromCharCode(...b.slice(from, to));
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
    if (ascii(1, 4) === "PNG") return "image/png";
    if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP") return "image/webp";
    if (ascii(0, 4) === "GIF8") return "image/gif";
    if (ascii(0, 4) === "II*\0" || ascii(0, 4) === "MM\0*") return "image/tiff";
    if (ascii(0, 2) === "BM") return "image/bmp";
    if ((b[0] === 0xff && b[1] === 0x0a) || ascii(4, 8) === "JXL ") return "image/jxl";
    if (ascii(4, 8) === "ftyp") { // ISO-BMFF: the major brand, then the compatible ones
      const size = Math.min(b.length, (b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]) >>> 0);
      const brands = [ascii(8, 12)];
      for (let at = 16; at + 4 <= size; at += 4) brands.push(ascii(at, at + 4));
      const known = brands.map((brand) => BRANDS[brand]).filter(Boolean);
      return known.find((t) => t !== "image/heif") || known[0] || null;
    }
    return null;
  }

  const formats = async () => ((await app.config()).limits || {}).formats || [];

  // The type to upload a sniffed type as (itself, its converted form, HEIF sent as HEIC), or null.
  async function accepted(type) {
    const list = await formats();
    if (list.includes(type)) return type;
    if (type === "image/heif" && list.includes("image/heic")) return type;
    if (CONVERTED[type] && list.includes(CONVERTED[type])) return CONVERTED[type];
    return null;
  }

  app.formats = {
    // For <input type=file accept>: every accepted type and its usual extensions.
    async accept() {
      const list = await formats();
      const all = [...list, ...Object.keys(CONVERTED).filter((t) => list.includes(CONVERTED[t]))];
      return all.flatMap((t) => [t, EXTENSIONS[t]].filter(Boolean)).join(",");
    },
    // "JPEG, PNG, or WebP" in the page's language; HEIF is said once, as the HEIC people know.
    async label() {
      const names = [...new Set((await formats()).map((t) => (t === "image/heif" ? "HEIC" : NAMES[t])
        || t.replace(/^image\//, "").toUpperCase()))];
      try {
        return new Intl.ListFormat(app.lang === "zh" ? "zh-CN" : "en", { type: "disjunction" }).format(names);
      } catch (e) { return names.join(", "); }
    },
  };

  // Decoded as stored, without conversion to sRGB: the pixels stay in the file's own colour space, so
  // the file's ICC profile still describes them when they are encoded again (icc.js). EXIF applied.
  app.decode = (blob) => createImageBitmap(blob, { colorSpaceConversion: "none" });

  const encode = (canvas, type, quality) => new Promise((resolve) => canvas.toBlob(resolve, type, quality));

  // Downscale in the browser when over max_bytes or max_pixels, so a 12 MP phone photo just works.
  // A format this browser cannot decode (HEIC in most) goes as it is when it fits: the server reads it.
  async function fit(file, type, sendAs, limits) {
    const maxPixels = limits.max_pixels || 40000000;
    const maxBytes = limits.max_bytes || 4194304;
    let bitmap;
    try { bitmap = await app.decode(file); } catch (e) {
      if (file.size <= maxBytes && sendAs === type) return { blob: file, width: 0, height: 0, bitmap: null, resized: false };
      throw new app.ApiError(file.size > maxBytes ? "payload_too_large" : "invalid_image", 400);
    }
    const { width, height } = bitmap;
    if (file.size <= maxBytes && width * height <= maxPixels && sendAs === type) {
      return { blob: file, width, height, bitmap, resized: false };
    }
    const icc = app.icc ? await app.icc.read(file) : null;
    let scale = Math.min(1, Math.sqrt(maxPixels / (width * height)));
    const lossless = sendAs === "image/png";
    for (let attempt = 0; attempt < 8; attempt += 1) {
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.floor(width * scale));
      canvas.height = Math.max(1, Math.floor(height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const out = attempt > 2 || !lossless ? "image/jpeg" : "image/png";
      let blob = await encode(canvas, out, 0.92);
      if (blob && icc) blob = await app.icc.write(blob, out, icc);
      if (blob && blob.size <= maxBytes) {
        return { blob, width: canvas.width, height: canvas.height, bitmap: await createImageBitmap(canvas), resized: scale < 1 };
      }
      scale *= 0.8;
    }
    throw new app.ApiError("payload_too_large", 413);
  }

  const EXT = { "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp" };
  app.extension = (type) => EXT[type] || (type || "").replace(/^image\//, "") || "png";
  app.baseName = (name) => (name || "photo").replace(/\.[^.]*$/, "") || "photo";

  // Sniff, check, fit to the limits, name: what one upload needs. Throws ApiError.
  app.prepare = async (file) => {
    const type = await sniff(file);
    const sendAs = type && (await accepted(type));
    if (!sendAs) throw new app.ApiError("unsupported_format", 415);
    const config = await app.config();
    let fitted;
    try { fitted = await fit(file, type, sendAs, config.limits || {}); } catch (e) {
      throw e instanceof app.ApiError ? e : new app.ApiError("invalid_image", 400);
    }
    const sent = fitted.blob === file ? type : fitted.blob.type;
    return { ...fitted, type: sent, name: app.baseName(file.name), ext: app.extension(sent) };
  };

  // Only the check (home page: before asking which tool).
  app.checkFormat = async (file) => {
    const type = await sniff(file);
    if (!type || !(await accepted(type))) throw new app.ApiError("unsupported_format", 415);
    return type;
  };
})();
