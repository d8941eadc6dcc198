"""Tiles for a model that must not see the whole photo: a grid of overlapping tiles of at most
`max_pixels` each, and the blend that puts the model's tiles back together without a seam.

Pillow only (the production bundle has no numpy). Neighbouring tiles share a band `overlap` pixels
wide, centred on the grid line between them. Inside the band the two results are mixed with a
raised-cosine ramp: a tile's own edge, where the model saw no context, gets almost no weight, and a
brightness difference between two tiles becomes a gradient across the band instead of a step.
Each row of tiles is blended across its columns first, then the rows down the image, so the weight
of a tile is the product of a horizontal and a vertical ramp wherever one, two or three neighbours
overlap it (the weights always sum to one).
"""

import math
from dataclasses import dataclass

from PIL import Image

DEFAULT_OVERLAP = 128  # 64 px of context on each side of a grid line


@dataclass(frozen=True)
class Grid:
    """Where the tiles of one image are: grid lines `xs` and `ys` (first 0, last the size)."""

    width: int
    height: int
    xs: tuple
    ys: tuple
    overlap: int

    @property
    def columns(self):
        return len(self.xs) - 1

    @property
    def rows(self):
        return len(self.ys) - 1

    def _span(self, lines, index, size):
        half = self.overlap // 2
        start = lines[index] - half if index > 0 else 0
        end = lines[index + 1] + half if index + 1 < len(lines) - 1 else size
        return max(0, start), min(size, end)

    def column_span(self, col):
        """(left, right) of the tiles in column `col`, their overlap included."""
        return self._span(self.xs, col, self.width)

    def row_span(self, row):
        """(top, bottom) of the tiles in row `row`, their overlap included."""
        return self._span(self.ys, row, self.height)

    def boxes(self):
        """Every tile's crop box (left, top, right, bottom), row by row."""
        boxes = []
        for r in range(self.rows):
            top, bottom = self.row_span(r)
            for c in range(self.columns):
                left, right = self.column_span(c)
                boxes.append((left, top, right, bottom))
        return boxes


def _widest(size, parts, overlap):
    """The largest tile extent along one axis when `size` is cut into `parts`."""
    core = math.ceil(size / parts)
    pads = min(parts - 1, 2)  # an end tile has one neighbour, a middle tile two
    return min(size, core + pads * (overlap // 2))


def plan(width, height, max_pixels, overlap=DEFAULT_OVERLAP):
    """The grid with the fewest tiles of at most `max_pixels` each (then the least pixels in all).

    One tile when the whole image fits. Every tile's core is at least `overlap` wide, so the bands
    of two grid lines never overlap each other. ValueError when no grid fits (a limit smaller than
    a tile's own overlap).
    """
    if width < 1 or height < 1 or max_pixels < 1:
        raise ValueError("empty image or tile limit")
    overlap -= overlap % 2
    if width * height <= max_pixels:
        return Grid(width, height, (0, width), (0, height), overlap)
    best = None  # (tiles, pixels in all tiles, columns, rows)
    # A core is at least `overlap` wide, which bounds the columns and rows worth trying.
    for columns in range(1, max(1, width // max(overlap, 1)) + 1):
        tile_w = _widest(width, columns, overlap)
        for rows in range(1, max(1, height // max(overlap, 1)) + 1):
            if (columns > 1 and width // columns < overlap) or (rows > 1 and height // rows < overlap):
                continue
            tile_h = _widest(height, rows, overlap)
            if tile_w * tile_h > max_pixels:
                continue
            found = (columns * rows, tile_w * tile_h * columns * rows, columns, rows)
            if best is None or found < best:
                best = found
            break  # more rows only adds tiles
    if best is None:
        raise ValueError(f"no grid of tiles under {max_pixels} pixels fits {width}x{height}")
    _, _, columns, rows = best
    xs = tuple(round(i * width / columns) for i in range(columns + 1))
    ys = tuple(round(i * height / rows) for i in range(rows + 1))
    return Grid(width, height, xs, ys, overlap)


def _ramp(length, across, horizontal):
    """An L mask `length` long (along the blend axis) and `across` wide: 0 -> 255, raised cosine."""
    values = [round(255 * (0.5 - 0.5 * math.cos(math.pi * (k + 0.5) / length))) for k in range(length)]
    line = Image.new("L", (length, 1) if horizontal else (1, length))
    line.putdata(values)
    return line.resize((length, across) if horizontal else (across, length), Image.Resampling.NEAREST)


def _stitch(pieces, spans, size, horizontal):
    """Pieces laid along one axis at `spans`, each blended into the one before over their overlap.

    Consumes `pieces` (each entry is dropped once pasted, so a finished tile is not kept twice).
    """
    canvas = None
    for index, (start, end) in enumerate(spans):
        piece = pieces[index]
        pieces[index] = None
        expected = (end - start, size[1]) if horizontal else (size[0], end - start)
        if piece.size != expected:  # a model that padded or rescaled its tile
            piece = piece.resize(expected, Image.Resampling.LANCZOS)
        if canvas is None:
            canvas = Image.new(piece.mode, size)
        offset = (start, 0) if horizontal else (0, start)
        if index == 0:
            canvas.paste(piece, offset)
            continue
        shared = spans[index - 1][1] - start
        mask = Image.new("L", piece.size, 255)
        across = piece.height if horizontal else piece.width
        mask.paste(_ramp(shared, across, horizontal), (0, 0))
        canvas.paste(piece, offset, mask)
    return canvas


def blend(grid, results):
    """The whole image from the model's tiles (`results`, in `grid.boxes()` order; consumed)."""
    if len(results) != grid.rows * grid.columns:
        raise ValueError("one result per tile")
    if len(results) == 1:
        return results.pop()
    columns = [grid.column_span(c) for c in range(grid.columns)]
    rows = [grid.row_span(r) for r in range(grid.rows)]
    strips = []
    for r, (top, bottom) in enumerate(rows):
        row = results[r * grid.columns:(r + 1) * grid.columns]
        results[r * grid.columns:(r + 1) * grid.columns] = [None] * grid.columns
        strips.append(_stitch(row, columns, (grid.width, bottom - top), horizontal=True))
    return _stitch(strips, rows, (grid.width, grid.height), horizontal=False)
