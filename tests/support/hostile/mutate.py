"""A seeded, reproducible mutator for image files: bit flips, insertions, deletions, splices,
chunk/segment surgery and header field edits (with PNG CRCs fixed so edits reach the decoder)."""

import random
import struct

from tests.support.hostile.build import fix_png_crcs, png_chunks, png_from_chunks, riff, riff_chunks

INTERESTING_8 = (0x00, 0x01, 0x7F, 0x80, 0xFF)
INTERESTING_16 = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF)
INTERESTING_32 = (0, 1, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
# One dimension at a time, so an edit gives a thin image, a huge one or a zero one, rarely a slow one.
DIMENSIONS = (0, 1, 2, 3, 17, 255, 256, 1000, 4096, 65535, 2**31 - 1)


class Mutator:
    """mutate() returns a new hostile variant of one of the seeds; same seed, same sequence."""

    def __init__(self, seeds, seed):
        self.seeds = [data for _, data in seeds]
        self.rng = random.Random(seed)
        self.ops = (
            self.flip_bits, self.set_bytes, self.insert, self.delete, self.duplicate, self.splice,
            self.chunk_surgery, self.header_edit, self.header_edit, self.interesting_int, self.truncate,
        )

    def mutate(self, data=None, rounds=None):
        """A mutated copy of `data` (or of a random seed)."""
        rng = self.rng
        data = bytearray(data if data is not None else rng.choice(self.seeds))
        for _ in range(rounds or rng.choice((1, 1, 1, 2, 3, 4))):
            data = bytearray(rng.choice(self.ops)(data))
        out = bytes(data)
        return fix_png_crcs(out) if rng.random() < 0.6 else out

    def _pos(self, data):
        # Headers are where parsers branch: bias positions toward the first 64 bytes.
        limit = len(data) if self.rng.random() < 0.5 else min(len(data), 64)
        return self.rng.randrange(max(1, limit))

    def flip_bits(self, data):
        for _ in range(self.rng.randint(1, 8)):
            if data:
                data[self._pos(data)] ^= 1 << self.rng.randrange(8)
        return data

    def set_bytes(self, data):
        for _ in range(self.rng.randint(1, 4)):
            if data:
                data[self._pos(data)] = self.rng.choice(INTERESTING_8 + (self.rng.randrange(256),))
        return data

    def insert(self, data):
        at = self._pos(data) if data else 0
        n = self.rng.choice((1, 2, 4, 16, 64, 512))
        blob = bytes(self.rng.randrange(256) for _ in range(min(n, 64))) * max(1, n // 64)
        return data[:at] + blob + data[at:]

    def delete(self, data):
        if len(data) < 2:
            return data
        at = self._pos(data)
        return data[:at] + data[at + self.rng.choice((1, 2, 4, 16, 64, 256)) :]

    def duplicate(self, data):
        if len(data) < 2:
            return data
        at, n = self._pos(data), self.rng.choice((4, 16, 64, 256))
        return data[:at] + data[at : at + n] * self.rng.choice((2, 3, 50)) + data[at:]

    def splice(self, data):
        other = self.rng.choice(self.seeds)
        a, b = self._pos(data) if data else 0, self.rng.randrange(len(other))
        return data[:a] + other[b:]

    def truncate(self, data):
        return data[: self.rng.randrange(len(data) + 1)]

    def interesting_int(self, data):
        if len(data) < 4:
            return data
        at = self._pos(data[:-4] or data)
        width, table = self.rng.choice(((2, INTERESTING_16), (4, INTERESTING_32)))
        order = self.rng.choice("<>")
        data[at : at + width] = struct.pack(order + ("H" if width == 2 else "I"), self.rng.choice(table))
        return data

    def chunk_surgery(self, data):
        """Drop, duplicate, swap or import a PNG chunk, JPEG segment or RIFF chunk."""
        rng = self.rng
        data = bytes(data)
        if data.startswith(b"\x89PNG"):
            chunks = png_chunks(data)
            donor = png_chunks(rng.choice([s for s in self.seeds if s.startswith(b"\x89PNG")]))
            return png_from_chunks(_shuffle(rng, chunks, donor))
        if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
            donor = riff_chunks(rng.choice([s for s in self.seeds if s[8:12] == b"WEBP"]))
            return riff(_shuffle(rng, riff_chunks(data), donor))
        if data.startswith(b"\xff\xd8"):
            cuts = [i for i in range(2, len(data) - 1) if data[i] == 0xFF and 0xC0 <= data[i + 1] <= 0xFE]
            if len(cuts) >= 2:
                i = rng.randrange(len(cuts) - 1)
                seg = data[cuts[i] : cuts[i + 1]]
                choice = rng.randrange(3)
                if choice == 0:
                    return data[: cuts[i]] + data[cuts[i + 1] :]
                if choice == 1:
                    return data[: cuts[i]] + seg * rng.choice((2, 3, 20)) + data[cuts[i + 1] :]
                j = rng.randrange(len(cuts))
                return data[: cuts[j]] + seg + data[cuts[j] :]
        return self.splice(bytearray(data))

    def header_edit(self, data):
        """Rewrite a size, depth, colour type or component count field in the format's header."""
        rng, data = self.rng, bytearray(data)
        value = rng.choice(DIMENSIONS)
        if data.startswith(b"\x89PNG") and len(data) >= 29:
            field = rng.choice(("w", "h", "depth", "colour", "interlace", "compression"))
            if field in ("w", "h"):
                data[16 if field == "w" else 20 : 24 if field == "h" else 20] = struct.pack(">I", value & 0xFFFFFFFF)
            else:
                data[{"depth": 24, "colour": 25, "compression": 26, "interlace": 28}[field]] = rng.choice((0, 1, 2, 3, 4, 6, 7, 8, 16, 255))
        elif data.startswith(b"\xff\xd8"):
            at = max(data.find(b"\xff\xc0"), data.find(b"\xff\xc2"))
            if at > 0 and at + 10 <= len(data):
                field = rng.choice(("w", "h", "precision", "components"))
                if field in ("w", "h"):
                    off = at + (7 if field == "w" else 5)
                    data[off : off + 2] = struct.pack(">H", value & 0xFFFF)
                else:
                    data[at + (4 if field == "precision" else 9)] = rng.choice((0, 1, 2, 4, 8, 12, 16, 255))
        elif data.startswith(b"GIF") and len(data) >= 13:
            at = rng.choice((6, 8))
            idx = data.find(b",", 13)
            if idx > 0 and rng.random() < 0.5 and idx + 9 <= len(data):
                at = idx + rng.choice((1, 3, 5, 7))
            data[at : at + 2] = struct.pack("<H", value & 0xFFFF)
        elif data[4:8] == b"ftyp":  # HEIF/AVIF: a size property or a box's size field
            spots = [i for i in range(8, len(data) - 12) if data[i : i + 4] in (b"ispe", b"iloc", b"ipma", b"mdat", b"iinf")]
            if spots:
                at = rng.choice(spots)
                if data[at : at + 4] == b"ispe":
                    at += 8 + rng.choice((0, 4))
                    data[at : at + 4] = struct.pack(">I", value & 0xFFFFFFFF)
                else:
                    data[at - 4 : at] = struct.pack(">I", rng.choice(INTERESTING_32 + (value & 0xFFFFFFFF,)))
        elif data.startswith(b"RIFF") and len(data) >= 30:
            kind = bytes(data[12:16])
            if kind == b"VP8X":
                at = 24 + rng.choice((0, 3))
                data[at : at + 3] = (value & 0xFFFFFF).to_bytes(3, "little")
            elif kind == b"VP8 ":
                at = 26 + rng.choice((0, 2))
                data[at : at + 2] = struct.pack("<H", value & 0x3FFF)
            elif kind == b"VP8L":
                data[21:25] = struct.pack("<I", rng.randrange(2**32))
        return data


def _shuffle(rng, chunks, donor):
    """One of: drop a chunk, duplicate one (up to 50 times), swap two, insert one from `donor`."""
    chunks = list(chunks)
    if not chunks:
        return chunks
    i, j = rng.randrange(len(chunks)), rng.randrange(len(chunks))
    op = rng.randrange(4)
    if op == 0 and len(chunks) > 1:
        del chunks[i]
    elif op == 1:
        chunks[i:i] = [chunks[i]] * rng.choice((1, 2, 50))
    elif op == 2:
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif donor:
        chunks.insert(i, rng.choice(donor))
    return chunks
