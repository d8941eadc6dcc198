// imgmend: the ICC colour profile of a JPEG, PNG or WebP file, read and written again. A canvas
// re-encode drops it, so every file this site writes gets the input's profile put back: PNG iCCP,
// JPEG APP2 "ICC_PROFILE", WebP ICCP in a VP8X container.
"use strict";

(() => {
  const app = window.imgmend;
  const ascii = (b, from, to) => String.fromCharCode(...b.subarray(from, to));
  const be32 = (b, at) => (b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3]) >>> 0;
  const le32 = (b, at) => (b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24) >>> 0;
  const concat = (parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const through = async (bytes, stream) => new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer());
  const MARK = new TextEncoder().encode("ICC_PROFILE\0");

  // [{type, data, at, end}] of a PNG (after its 8-byte signature).
  function pngChunks(b) {
    const out = [];
    for (let at = 8; at + 12 <= b.length;) {
      const length = be32(b, at);
      out.push({ type: ascii(b, at + 4, at + 8), data: b.subarray(at + 8, at + 8 + length), at, end: at + 12 + length });
      at += 12 + length;
    }
    return out;
  }

  // JPEG segments before the scan: [{marker, data (after the length), at, end}].
  function jpegSegments(b) {
    const out = [];
    for (let at = 2; at + 4 <= b.length && b[at] === 0xff;) {
      const marker = b[at + 1];
      if (marker === 0xda || marker === 0xd9) break;
      const length = b[at + 2] << 8 | b[at + 3];
      out.push({ marker, data: b.subarray(at + 4, at + 2 + length), at, end: at + 2 + length });
      at += 2 + length;
    }
    return out;
  }
  const isIcc = (s) => s.marker === 0xe2 && s.data.length > 14 && MARK.every((c, i) => s.data[i] === c);

  // RIFF chunks of a WebP: [{fourcc, data, at, end}] (each padded to an even length).
  function webpChunks(b) {
    const out = [];
    for (let at = 12; at + 8 <= b.length;) {
      const length = le32(b, at + 4);
      out.push({ fourcc: ascii(b, at, at + 4), data: b.subarray(at + 8, at + 8 + length), at, end: at + 8 + length + (length & 1) });
      at += 8 + length + (length & 1);
    }
    return out;
  }

  async function read(blob) {
    if (!blob) return null;
    const b = new Uint8Array(await blob.arrayBuffer());
    if (b[0] === 0xff && b[1] === 0xd8) {
      const parts = jpegSegments(b).filter(isIcc).sort((x, y) => x.data[12] - y.data[12]);
      return parts.length ? concat(parts.map((s) => s.data.subarray(14))) : null;
    }
    if (ascii(b, 1, 4) === "PNG") {
      const chunk = pngChunks(b).find((c) => c.type === "iCCP");
      if (!chunk) return null;
      const zero = chunk.data.indexOf(0);
      try { return await through(chunk.data.subarray(zero + 2), new DecompressionStream("deflate")); } catch (e) { return null; }
    }
    if (ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP") {
      const chunk = webpChunks(b).find((c) => c.fourcc === "ICCP");
      return chunk ? chunk.data.slice() : null;
    }
    return null;
  }

  function pngChunk(type, data) {
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    view.setUint32(8 + data.length, app.crc32(out.subarray(4, 8 + data.length)));
    return out;
  }

  async function writePng(b, icc) {
    const chunks = pngChunks(b);
    const profile = concat([new TextEncoder().encode("ICC profile"), new Uint8Array([0, 0]), await through(icc, new CompressionStream("deflate"))]);
    const kept = chunks.filter((c) => !["iCCP", "sRGB", "gAMA", "cHRM"].includes(c.type)).map((c) => b.subarray(c.at, c.end));
    return concat([b.subarray(0, 8), kept[0], pngChunk("iCCP", profile), ...kept.slice(1)]);
  }

  function writeJpeg(b, icc) {
    const segments = jpegSegments(b);
    const last = segments.length ? segments[segments.length - 1].end : 2;
    const app0 = segments.filter((s) => s.marker === 0xe0);
    const head = app0.length ? app0[0].end : 2;
    const size = 65519; // the most one APP2 segment holds after its 14-byte header
    const count = Math.ceil(icc.length / size);
    const added = [];
    for (let n = 0; n < count; n += 1) {
      const part = icc.subarray(n * size, (n + 1) * size);
      const length = 2 + 14 + part.length;
      added.push(new Uint8Array([0xff, 0xe2, length >> 8, length & 0xff]), MARK, new Uint8Array([n + 1, count]), part);
    }
    const between = segments.filter((s) => s.at >= head && !isIcc(s)).map((s) => b.subarray(s.at, s.end));
    return concat([b.subarray(0, head), ...added, ...between, b.subarray(last)]);
  }

  function riff(fourcc, data) {
    const out = new Uint8Array(8 + data.length + (data.length & 1));
    out.set(new TextEncoder().encode(fourcc));
    new DataView(out.buffer).setUint32(4, data.length, true);
    out.set(data, 8);
    return out;
  }

  function writeWebp(b, icc, width, height, alpha) {
    const chunks = webpChunks(b).filter((c) => c.fourcc !== "ICCP");
    let head = chunks.find((c) => c.fourcc === "VP8X");
    const rest = chunks.filter((c) => c.fourcc !== "VP8X").map((c) => b.subarray(c.at, c.end));
    let flags = 0x20; // ICC profile
    if (head) flags |= head.data[0];
    if (alpha || chunks.some((c) => c.fourcc === "ALPH")) flags |= 0x10;
    const x = new Uint8Array(10);
    x[0] = flags;
    if (head) x.set(head.data.subarray(4, 10), 4);
    else [width - 1, height - 1].forEach((v, i) => { x[4 + i * 3] = v & 0xff; x[5 + i * 3] = v >> 8 & 0xff; x[6 + i * 3] = v >> 16 & 0xff; });
    const body = concat([riff("VP8X", x), riff("ICCP", icc), ...rest]);
    const out = concat([new TextEncoder().encode("RIFF"), new Uint8Array(4), new TextEncoder().encode("WEBP"), body]);
    new DataView(out.buffer).setUint32(4, out.length - 8, true);
    return out;
  }

  // The file `blob` (written by canvas.toBlob as `type`) with `icc` in it; `size` = {width, height, alpha}.
  async function write(blob, type, icc, size) {
    if (!icc || !icc.length) return blob;
    const b = new Uint8Array(await blob.arrayBuffer());
    let out = null;
    if (type === "image/png") out = await writePng(b, icc);
    else if (type === "image/jpeg") out = writeJpeg(b, icc);
    else if (type === "image/webp") out = writeWebp(b, icc, (size || {}).width || 1, (size || {}).height || 1, (size || {}).alpha);
    return out ? new Blob([out], { type }) : blob;
  }

  app.icc = { read, write };
})();
