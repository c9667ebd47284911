"""What the compiled model's slots mean, and the geometry maths that turns a spec's tiles into slot values.

Ids stored in the model (``geom_user``: category, colour index, hazard), geom groups, display colours, where
unused slots wait, and pure functions of the spec and ``PhysicsConfig``: the merge of tiles into terrain boxes,
floor shading, ramp poses, boundary walls and the object meshes. Nothing here holds state beyond memo tables.
"""

from __future__ import annotations

import functools
import math

import mujoco
import numpy as np

from worlds.sim.config import PhysicsConfig
from worlds.tasks import spec as ws

#: Geom categories (``geom_category``): what a ray hit. 0 is "nothing" so the env can use it for misses.
CAT_NONE = 0
CAT_FLOOR = 1
CAT_RAMP = 2
CAT_WALL = 3
CAT_OBJECT = 4
CAT_AVATAR = 5
#: A hazard tile (or a ramp on one): the danger is visible (ReQueST's premise), only the goal reward ignores it.
CAT_HAZARD = 6
CATEGORY_NAMES: tuple[str, ...] = ("none", "floor", "ramp", "wall", "object", "avatar", "hazard")

#: Each avatar's contact sensor: the ``CONTACT_SENSOR_SLOTS`` deepest contacts of its capsule (reduce "mindist"),
#: each as ``CONTACT_SENSOR_FIELDS`` numbers (found, pos xyz, normal xyz); empty slots are zeros.
CONTACT_SENSOR_SLOTS = 8
CONTACT_SENSOR_FIELDS = 7
CONTACT_SENSOR_DATA = sum(1 << int(f) for f in (mujoco.mjtConDataField.mjCONDATA_FOUND, mujoco.mjtConDataField.mjCONDATA_POS,
                                                mujoco.mjtConDataField.mjCONDATA_NORMAL))  # fmt: skip
CONTACT_SENSOR_REDUCE = 1  # mindist

#: Geom groups: pass e.g. ``geomgroup=(1, 1, 1, 0, 0, 0)`` to ``mj_multiRay`` to see terrain, objects, avatars.
GROUP_TERRAIN = 0
GROUP_OBJECT = 1
GROUP_AVATAR = 2
GROUP_DECOR = 3
GROUP_HIDDEN = 5

#: Colour index used for geoms that have no spec colour (walls, avatars, inactive slots).
NO_COLOUR = -1
COLOUR_NAMES: tuple[str, ...] = tuple(ws.COLOURS)
COLOUR_INDEX = ws.COLOUR_INDEX
COLOUR_RGBA = np.array([ws.COLOURS[n] for n in COLOUR_NAMES], dtype=np.float64)
SHAPE_INDEX = {s: i for i, s in enumerate(ws.SHAPES)}
DIR_NAMES: tuple[str, ...] = tuple(ws.DIRECTIONS)
DIR_INDEX = {d: i for i, d in enumerate(DIR_NAMES)}

#: Avatar display colours per player (render only; rays report the category and the player id).
PLAYER_RGBA = np.array(
    [[0.95, 0.95, 0.3, 1.0], [0.3, 0.9, 0.95, 1.0], [0.95, 0.4, 0.8, 1.0], [0.6, 0.95, 0.4, 1.0]]
)
WALL_RGBA = np.array([0.78, 0.76, 0.72, 1.0])
HIDDEN_RGBA = [0.5, 0.5, 0.5, 0.0]
#: Hazard tiles render dark red whatever their floor colour (no spec colour is this dark), so people see them too.
HAZARD_RGBA = (0.22, 0.02, 0.02, 1.0)

PARK = np.array([-200.0, -200.0, -200.0])  # where inactive slots wait, far from any world
RAMP_SLAB = 0.1  # half thickness of a ramp slab (m)
IDENT_QUAT = np.array([1.0, 0.0, 0.0, 0.0])


def object_park(n_objects: int) -> np.ndarray:
    """[n, 3] where inactive object slots wait: 3 m apart, so parked free bodies never touch."""
    return PARK + np.stack([3.0 * np.arange(n_objects), np.zeros(n_objects), np.zeros(n_objects)], 1)


def avatar_park(players: int) -> np.ndarray:
    """[players, 4] (x, y, z, yaw) joint values of an inactive avatar: parked beside the objects' row."""
    park = np.zeros((players, 4))
    park[:, :3] = PARK + np.stack([np.zeros(players), 3.0 * np.arange(players) + 50.0, np.zeros(players)], 1)
    return park


#: Row runs memoised per (levels row, colours row, hazard columns): generated worlds reuse few distinct rows.
_ROW_RUNS: dict[tuple, tuple[tuple[int, int, int, int, int], ...]] = {}


def _row_runs(lrow: tuple[int, ...], crow: tuple[str, ...], hcols: tuple[int, ...]) -> tuple:
    """Maximal runs of equal (level, colour, hazard) in one row: ((c0, c1, level, colour, hazard), ...)."""
    key = (lrow, crow, hcols)
    runs = _ROW_RUNS.get(key)
    if runs is None:
        cidx = COLOUR_INDEX
        keys = [(lv, cidx[c], 0) for lv, c in zip(lrow, crow)]
        for c in hcols:
            lv, co, _ = keys[c]
            keys[c] = (lv, co, 1)
        out = []
        start, prev = 0, keys[0]
        for c in range(1, len(keys)):
            k = keys[c]
            if k != prev:
                out.append((start, c - 1, *prev))
                start, prev = c, k
        out.append((start, len(keys) - 1, *prev))
        runs = tuple(out)
        if len(_ROW_RUNS) < 100_000:
            _ROW_RUNS[key] = runs
    return runs


def merge_tiles(terrain: ws.Terrain) -> list[list[int]]:
    """Cover the grid with rectangles of equal (level, colour, hazard): ``[c0, r0, c1, r1, level, colour index,
    hazard]`` per rectangle, corners inclusive.

    Why: every geom costs in collision and ray casting; a typical world collapses from rows*cols tiles to a few
    dozen boxes. Maximal runs along each row are found (memoised per distinct row), and a run identical to one
    in the row above (same columns, same key) extends that rectangle downwards.
    """
    levels, colour_rows = terrain.levels, terrain.floor_colours
    hz_cols: dict[int, list[int]] = {}
    for cell in terrain.hazards:
        hz_cols.setdefault(cell.row, []).append(cell.col)
    rects: list[list[int]] = []
    prev_runs: tuple = ()
    open_prev: dict = {}
    for r in range(terrain.rows):
        h = hz_cols.get(r)
        runs = _row_runs(levels[r], colour_rows[r], tuple(sorted(set(h))) if h else ())
        if runs is prev_runs:  # the same row again: every rectangle of the row above grows by one row
            for j in open_prev.values():
                rects[j][3] = r
            continue
        open_cur = {}
        for run in runs:
            j = open_prev.get(run)
            if j is None:
                j = len(rects)
                c0, c1, lv, co, hz = run
                rects.append([c0, r, c1, r, lv, co, hz])
            else:
                rects[j][3] = r
            open_cur[run] = j
        open_prev, prev_runs = open_cur, runs
    return rects


@functools.lru_cache(maxsize=None)
def floor_rgba(colour: int, level: int, ramp: bool = False) -> tuple[float, ...]:
    """A floor colour, slightly lighter per level so levels read apart in renders (rays report the index)."""
    rgba = COLOUR_RGBA[colour].copy()
    rgba[:3] = np.clip(rgba[:3] * (0.8 + 0.1 * level) + (0.05 if ramp else 0.0), 0.0, 1.0)
    return tuple(rgba.tolist())


def _quat_from_mat(mat: np.ndarray) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(mat, dtype=np.float64).reshape(9))
    return q


def ramp_poses(physics: PhysicsConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offset [4, 3], quat [4, 4], half size [3]) of a ramp slab per direction (``DIR_NAMES`` order).

    A slab's top face runs from the tile's floor at its foot edge up to the neighbour's floor at its far edge;
    its centre is the top-face centre minus ``offset`` (half the slab along the face normal).
    """
    theta = math.atan2(physics.level_height, physics.tile_size)
    offsets, quats = [], []
    for name in DIR_NAMES:
        dr, dc = ws.DIRECTIONS[name]
        xaxis = np.array([math.cos(theta) * dc, math.cos(theta) * dr, math.sin(theta)])
        zaxis = np.array([-math.sin(theta) * dc, -math.sin(theta) * dr, math.cos(theta)])
        yaxis = np.cross(zaxis, xaxis)
        offsets.append(RAMP_SLAB * zaxis)
        quats.append(_quat_from_mat(np.stack([xaxis, yaxis, zaxis], axis=1)))
    size = np.array([math.hypot(physics.tile_size, physics.level_height) / 2, physics.tile_size / 2, RAMP_SLAB])
    return np.array(offsets), np.array(quats), size


def wall_boxes(physics: PhysicsConfig, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pos [4, 3], half size [4, 3], rbound [4]) of the four boundary walls around a rows x cols grid."""
    ts, depth = physics.tile_size, physics.floor_depth
    w, hw = physics.wall_thickness / 2, (physics.wall_height + depth) / 2
    zc = (physics.wall_height - depth) / 2
    X, Y = cols * ts, rows * ts
    w_pos = np.array([[X / 2, -w, zc], [X / 2, Y + w, zc], [-w, Y / 2, zc], [X + w, Y / 2, zc]])
    w_size = np.array([[X / 2 + 2 * w, w, hw], [X / 2 + 2 * w, w, hw], [w, Y / 2, hw], [w, Y / 2, hw]])
    return w_pos, w_size, np.sqrt((w_size * w_size).sum(1))


def shape_meshes(h: float) -> dict[str, list[float]]:
    """Vertices of the two mesh shapes, centred on the bounding box so every shape spans z in [-h, h]."""
    pyramid = [-h, -h, -h, h, -h, -h, h, h, -h, -h, h, -h, 0.0, 0.0, h]
    wedge = [-h, -h, -h, h, -h, -h, h, h, -h, -h, h, -h, h, -h, h, h, h, h]
    return {"pyramid": pyramid, "wedge": wedge}
