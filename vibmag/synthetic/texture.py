"""The continuous speckle texture every synthetic scene is painted with (:class:`SpeckleTexture`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._common import _TEXTURE_STREAM, SceneError, _count, _finite, _set

_TILE = 16  # texture cells per side of one independently seeded tile
_TILE_OFFSET = 2**31  # makes tile indices non-negative seed entropy
_SAMPLES_PER_CHUNK = 2**16  # texture samples evaluated at once (cache-sized)


@dataclass(frozen=True)
class SpeckleTexture:
    """A continuous speckle texture, evaluated exactly at any float position.

    One blob per ``speckle_size`` x ``speckle_size`` px cell of an infinite
    lattice, at a uniformly random position in its cell, with a random signed
    weight ``a`` in [-1, 1] and the profile ``a (1 - r^2 / s^2)^4`` for
    ``r < s = speckle_size``, 0 beyond (a bell about ``0.8 s`` wide at half
    height, three times differentiable, needing no ``exp``; each point sees
    the blobs of the 3 x 3 cells around it).
    Intensity ``mean + contrast * tanh(sum of blobs)`` stays strictly inside
    ``(mean - contrast, mean + contrast)``. Cells come in tiles of 16 x 16, each
    drawn from ``numpy.random.default_rng([seed, 1, stream, tile_y, tile_x])``,
    so the texture is the same wherever and in whatever order it is evaluated.

    Parameters
    ----------
    seed, stream : int
        Non-negative; ``stream`` tells apart the textures of one scene.
    speckle_size : float
        Cell size in px (about the speckle diameter); > 0.
    mean, contrast : float
        Intensity centre and half-range, within [0, 1].
    """

    seed: int = 0
    stream: int = 0
    speckle_size: float = 3.0
    mean: float = 0.5
    contrast: float = 0.4
    _tiles: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # (row, col) -> tile draws

    def __post_init__(self):
        _set(self, "seed", _count(self.seed, "seed", minimum=0))
        _set(self, "stream", _count(self.stream, "texture stream", minimum=0))
        size = _finite(self.speckle_size, "speckle_size (px)")
        if size <= 0:
            raise SceneError(f"speckle_size must be positive, got {self.speckle_size!r}")
        _set(self, "speckle_size", size)
        mean, contrast = _finite(self.mean, "texture mean"), _finite(self.contrast, "texture contrast", minimum=0.0)
        if mean - contrast < 0 or mean + contrast > 1:
            raise SceneError(f"texture intensities mean +- contrast must lie in [0, 1], got {mean} +- {contrast}")
        _set(self, "mean", mean)
        _set(self, "contrast", contrast)

    def __call__(self, y, x) -> np.ndarray:
        """Intensity at positions ``(y, x)`` (float arrays in px, broadcast together), float64."""
        y, x = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(x, dtype=float))
        flat_y, flat_x = y.ravel(), x.ravel()
        blobs = np.empty(flat_y.shape)
        for start in range(0, flat_y.size, _SAMPLES_PER_CHUNK):
            chunk = slice(start, start + _SAMPLES_PER_CHUNK)
            blobs[chunk] = self._blob_sum(flat_y[chunk], flat_x[chunk])
        return (self.mean + self.contrast * np.tanh(blobs)).reshape(y.shape)

    def _blob_sum(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Sum of the blobs of the 3 x 3 cells around each point; 1-D arrays in, 1-D out."""
        if y.size == 0:
            return np.zeros(0)
        size = self.speckle_size
        row, col = np.floor(y / size).astype(np.intp), np.floor(x / size).astype(np.intp)
        row0, col0 = int(row.min()) - 1, int(col.min()) - 1
        centre_y, centre_x, weight = self._cells(row0, int(row.max()) + 2, col0, int(col.max()) + 2)
        n_cols = centre_y.shape[1]
        centre_y, centre_x, weight = centre_y.ravel(), centre_x.ravel(), weight.ravel()
        home = (row - row0) * n_cols + (col - col0)
        total = np.zeros(y.shape)
        cell, along_y, along_x = np.empty_like(home), np.empty(y.shape), np.empty(y.shape)
        for step_y in (-1, 0, 1):
            for step_x in (-1, 0, 1):
                # blob = a max(1 - |X - c|^2 / s^2, 0)^4, computed in place
                np.add(home, step_y * n_cols + step_x, out=cell)
                np.subtract(y, centre_y.take(cell), out=along_y)
                np.subtract(x, centre_x.take(cell), out=along_x)
                along_y *= along_y
                along_x *= along_x
                along_y += along_x
                np.multiply(along_y, -1.0 / (size * size), out=along_x)
                along_x += 1.0
                np.maximum(along_x, 0.0, out=along_x)
                along_x *= along_x
                along_x *= along_x
                along_x *= weight.take(cell)
                total += along_x
        return total

    def _cells(self, row0: int, row1: int, col0: int, col1: int):
        """Blob centres (y, x) in px and weights of cells ``[row0, row1) x [col0, col1)``."""
        tile_rows = range(row0 // _TILE, (row1 - 1) // _TILE + 1)
        tile_cols = range(col0 // _TILE, (col1 - 1) // _TILE + 1)
        jitter_y, jitter_x, weight = (np.empty((len(tile_rows) * _TILE, len(tile_cols) * _TILE)) for _ in range(3))
        for i, tile_row in enumerate(tile_rows):
            for j, tile_col in enumerate(tile_cols):
                block = np.s_[i * _TILE : (i + 1) * _TILE, j * _TILE : (j + 1) * _TILE]
                jitter_y[block], jitter_x[block], weight[block] = self._tile(tile_row, tile_col)
        top, left = tile_rows[0] * _TILE, tile_cols[0] * _TILE
        keep = np.s_[row0 - top : row1 - top, col0 - left : col1 - left]
        rows = np.arange(row0, row1)[:, None]
        cols = np.arange(col0, col1)[None, :]
        return (rows + jitter_y[keep]) * self.speckle_size, (cols + jitter_x[keep]) * self.speckle_size, weight[keep]

    def _tile(self, tile_row: int, tile_col: int):
        """Jitter (y, x) in cell units and weights of one 16 x 16 tile of cells (drawn once, then cached)."""
        if (tile_row, tile_col) not in self._tiles:
            entropy = [self.seed, _TEXTURE_STREAM, self.stream, tile_row + _TILE_OFFSET, tile_col + _TILE_OFFSET]
            rng, cells = np.random.default_rng(entropy), (_TILE, _TILE)
            self._tiles[tile_row, tile_col] = (rng.random(cells), rng.random(cells), rng.uniform(-1.0, 1.0, cells))
        return self._tiles[tile_row, tile_col]

    def to_dict(self) -> dict:
        names = ("seed", "stream", "speckle_size", "mean", "contrast")
        return {name: getattr(self, name) for name in names}

    @classmethod
    def from_dict(cls, data: dict) -> SpeckleTexture:
        return cls(**data)
