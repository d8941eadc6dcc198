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
  app.crc32 = crc32; // also the PNG chunks' checksum (icc.js)

  function header(size) {
    const buf = new DataView(new ArrayBuffer(size));
    return { buf, bytes: new Uint8Array(buf.buffer) };
  }

  // A local header (at = 4) or central-directory entry (at = 6): from `at` on they share version needed,
  // flags (UTF-8 names), method (stored), time, date, CRC-32, both sizes and the name's length.
  function record(size, signature, at, crc, length, nameLength) {
    const head = header(size);
    head.buf.setUint32(0, signature, true);
    head.buf.setUint16(at, 20, true);
    head.buf.setUint16(at + 2, 0x0800, true);
    head.buf.setUint16(at + 8, DATE, true);
    head.buf.setUint32(at + 10, crc, true);
    head.buf.setUint32(at + 14, length, true);
    head.buf.setUint32(at + 18, length, true);
    head.buf.setUint16(at + 22, nameLength, true);
    return head;
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
      parts.push(record(30, 0x04034b50, 4, crc, data.length, name.length).bytes, name, data);
      const entry = record(46, 0x02014b50, 6, crc, data.length, name.length);
      entry.buf.setUint16(4, 20, true); // version made by
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
