// imgmend: a minimal ZIP writer (stored, no compression: photos are compressed already) for batch downloads.
"use strict";

(() => {
  const app = window.imgmend;
  const table = new Uint32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });

  const DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01: no timestamp of the user's session in the file

  function crc32(bytes) {
    let crc = 0xffffffff;
    for (let i = 0; i < bytes.length; i += 1) crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    return (crc ^ 0xffffffff) >>> 0;
  }

  function header(size) {
    const buf = new DataView(new ArrayBuffer(size));
    return { buf, bytes: new Uint8Array(buf.buffer) };
  }

  // files: [{name, blob}] -> a Blob of type application/zip. Names are UTF-8 (flag bit 11).
  app.zip = async (files) => {
    const parts = [];
    const central = [];
    let offset = 0;
    for (const file of files) {
      const data = new Uint8Array(await file.blob.arrayBuffer());
      const name = new TextEncoder().encode(file.name);
      const crc = crc32(data);
      const local = header(30);
      local.buf.setUint32(0, 0x04034b50, true);
      local.buf.setUint16(4, 20, true);
      local.buf.setUint16(6, 0x0800, true);
      local.buf.setUint16(12, DATE, true);
      local.buf.setUint32(14, crc, true);
      local.buf.setUint32(18, data.length, true);
      local.buf.setUint32(22, data.length, true);
      local.buf.setUint16(26, name.length, true);
      parts.push(local.bytes, name, data);
      const entry = header(46);
      entry.buf.setUint32(0, 0x02014b50, true);
      entry.buf.setUint16(4, 20, true);
      entry.buf.setUint16(6, 20, true);
      entry.buf.setUint16(8, 0x0800, true);
      entry.buf.setUint16(14, DATE, true);
      entry.buf.setUint32(16, crc, true);
      entry.buf.setUint32(20, data.length, true);
      entry.buf.setUint32(24, data.length, true);
      entry.buf.setUint16(28, name.length, true);
      entry.buf.setUint32(42, offset, true);
      central.push(entry.bytes, name);
      offset += 30 + name.length + data.length;
    }
    const size = central.reduce((n, part) => n + part.length, 0);
    const end = header(22);
    end.buf.setUint32(0, 0x06054b50, true);
    end.buf.setUint16(8, files.length, true);
    end.buf.setUint16(10, files.length, true);
    end.buf.setUint32(12, size, true);
    end.buf.setUint32(16, offset, true);
    return new Blob([...parts, ...central, end.bytes], { type: "application/zip" });
  };
})();
