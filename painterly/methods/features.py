"""Feature vectors as sets: hypercolumns, pairwise distances, nearest neighbours (STROTSS and NNST).

Both later methods compare an image's features with a painting's as *sets of vectors*, each
vector the activations of several layers at one position (a hypercolumn), not as Gram matrices.
This module holds what they share:

- :func:`cosine_distances` D_ij = 1 - <x_i, y_j> / (|x_i| |y_j|), optionally after subtracting
  each set's mean vector (NNST's "centred cosine");
- :func:`euclidean_distances` D_ij = |x_i - y_j|;
- :func:`sample_hypercolumns`: the vectors at chosen pixel positions, each layer read by
  bilinear interpolation at the position scaled to its resolution (STROTSS);
- :func:`nearest_neighbours`: for each query row, the reference row at the smallest centred
  cosine distance, computed in chunks of rows so that the distance matrix never exceeds a
  memory bound (NNST's distance matrix is positions x painting positions: 16384 x 65536 at
  512 px, 4 GiB in float32, if formed at once);
- :func:`nearest_distances`: min_j D_ij with the centred cosine, differentiable in the query,
  without keeping the distance matrix for the backward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

#: The most bytes one chunk of a nearest-neighbour search's distance matrix may hold.
CHUNK_BYTES = 256 * 2**20
_EPSILON = 1e-8


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True).clamp_min(_EPSILON)


def cosine_distances(
    x: torch.Tensor, y: torch.Tensor, *, center: bool = False, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """(n, m): 1 - cos(x_i, y_j) between the rows of ``x`` (n, d) and ``y`` (m, d), float32.

    ``center``: each set's mean row is subtracted first (NNST compares features around their own
    means, so that a feature that is large everywhere does not match everything). ``dtype``: the
    unit vectors are multiplied in it (bfloat16 where the network runs so: the features are no
    more precise than that, and the product of thousands of vectors is most of these methods'
    time on a CPU); the products are summed in float32 either way."""
    if center:
        x, y = x - x.mean(0, keepdim=True), y - y.mean(0, keepdim=True)
    unit_x, unit_y = _unit_rows(x), _unit_rows(y)
    if dtype is not None:
        unit_x, unit_y = unit_x.to(dtype), unit_y.to(dtype)
    return 1.0 - (unit_x @ unit_y.T).float()


def euclidean_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(n, m): |x_i - y_j|, with the squared distance floored at 1e-8 so its gradient is finite."""
    squared = (x * x).sum(1, keepdim=True) + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return squared.clamp_min(_EPSILON).sqrt()


def random_positions(
    height: int, width: int, count: int, generator: torch.Generator, *, stride: int = 1
) -> torch.Tensor:
    """(k, 2) distinct integer pixel positions (row, column), k = min(count, the grid's size), drawn
    uniformly from the grid of every ``stride``-th pixel shifted by a random offset below ``stride``."""
    offset = torch.randint(stride, (2,), generator=generator) if stride > 1 else torch.zeros(2, dtype=torch.long)
    rows = torch.arange(int(offset[0]), height, stride)
    columns = torch.arange(int(offset[1]), width, stride)
    grid = torch.cartesian_prod(rows, columns)
    chosen = torch.randperm(len(grid), generator=generator)[:count]
    return grid[chosen].float()


def sample_hypercolumns(
    maps: Sequence[torch.Tensor], positions: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """(k, sum of channels): each map (1, C, h, w) read at ``positions`` (k, 2) given in pixels of an
    image of ``size`` (height, width), concatenated in the order of ``maps``.

    A map of resolution h x w reads pixel (r, c) at (r * (h - 1) / (H - 1), c * (w - 1) / (W - 1)),
    bilinearly (the corners of the image are the corners of every map). Float32."""
    height, width = size
    scale = torch.tensor([max(height - 1, 1), max(width - 1, 1)], dtype=torch.float32, device=positions.device)
    unit = positions.to(torch.float32) / scale * 2.0 - 1.0  # -1..1, (row, column)
    grid = unit.flip(1).view(1, 1, -1, 2)  # grid_sample takes (x, y)
    columns = []
    for feature_map in maps:
        values = F.grid_sample(
            feature_map.float(), grid.to(feature_map.device), mode="bilinear", align_corners=True
        )  # (1, C, 1, k)
        columns.append(values[0, :, 0].T)
    return torch.cat(columns, dim=1)


def nearest_neighbours(
    query: torch.Tensor, reference: torch.Tensor, *, chunk_bytes: int = CHUNK_BYTES, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """(n,) index into ``reference`` (m, d) of the row nearest each row of ``query`` (n, d) by the
    centred cosine distance (both sets centred on their own mean), in chunks of query rows of at
    most ``chunk_bytes`` of distances each; ``dtype`` as for :func:`cosine_distances`."""
    query = _unit_rows(query - query.mean(0, keepdim=True))
    reference = _unit_rows(reference - reference.mean(0, keepdim=True))
    if dtype is not None:
        query, reference = query.to(dtype), reference.to(dtype)
    rows = max(1, chunk_bytes // (4 * max(len(reference), 1)))
    found = [torch.argmax(chunk @ reference.T, dim=1) for chunk in query.split(rows)]
    return torch.cat(found)


def nearest_distances(
    query: torch.Tensor, reference: torch.Tensor, *, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """(n,) min_j D_ij, the centred cosine distance from each row of ``query`` (n, d) to its nearest
    row of the constant ``reference`` (m, d), differentiable in ``query``.

    The minimum's gradient is the gradient of its smallest entry, D_i,j*(i) (away from ties), so
    the search for j*(i) runs without gradient (:func:`nearest_neighbours`, in chunks) and only
    the n matched distances are formed with it. The value and gradient are those of
    ``cosine_distances(reference, query, center=True).min(0)``, but the backward pass keeps n
    vectors instead of an m x n matrix, which on a CPU was most of NNST's final pass.
    """
    with torch.no_grad():
        nearest = nearest_neighbours(query.detach(), reference, dtype=dtype)
    centred = query - query.mean(0, keepdim=True)  # the query's mean depends on every row: keep it in the graph
    unit_query = _unit_rows(centred.float())
    unit_reference = _unit_rows((reference - reference.mean(0, keepdim=True)).float())
    return 1.0 - (unit_query * unit_reference[nearest]).sum(1)
