"""Loading a ``WorldSpec`` into a copy of the compiled template in place: array writes, no recompilation.

``WorldLoader`` starts every field a load writes from a snapshot of the freshly compiled model (one per player
count: every slot parked and inert except the walls and that many avatars), writes the slots the world uses, and
resets ``data`` to the spawns. A load therefore does not depend on what was loaded before. Loads are memoised
per spec (an LRU), because the curriculum replays worlds.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from itertools import chain

import mujoco
import numpy as np

from worlds.sim.config import Capacity, PhysicsConfig
from worlds.sim.layout import (
    CAT_AVATAR,
    CAT_FLOOR,
    CAT_HAZARD,
    CAT_OBJECT,
    CAT_RAMP,
    CAT_WALL,
    COLOUR_INDEX,
    COLOUR_RGBA,
    DIR_INDEX,
    GROUP_AVATAR,
    GROUP_DECOR,
    GROUP_OBJECT,
    GROUP_TERRAIN,
    HAZARD_RGBA,
    IDENT_QUAT,
    NO_COLOUR,
    PLAYER_RGBA,
    SHAPE_INDEX,
    WALL_RGBA,
    avatar_park,
    floor_rgba,
    merge_tiles,
    object_park,
    ramp_poses,
    wall_boxes,
)
from worlds.sim.slots import SlotIndex
from worlds.tasks import spec as ws


@dataclass
class LoadedWorld:
    """What ``WorldTemplate.load`` derived from a spec: cached numpy views for the env's per-step labelling.

    The same facts also live inside the model (``geom_user``, ``body_user``), so they are never out of sync
    with the model they describe; these are just int copies that are cheap to index.
    """

    spec: ws.WorldSpec
    geom_category: np.ndarray
    """[ngeom] int: category id (``CAT_*``) per geom."""
    geom_colour_index: np.ndarray
    """[ngeom] int: index into ``spec.COLOURS`` order, or ``NO_COLOUR``."""
    geom_hazard: np.ndarray
    """[ngeom] bool: the geom is a hazard tile (or a ramp on one)."""
    player_active: np.ndarray
    """[players] bool."""
    object_active: np.ndarray
    """[max_objects] bool."""
    object_movable: np.ndarray
    """[max_objects] bool."""
    object_shape: np.ndarray
    """[max_objects] int index into ``spec.SHAPES`` (-1 inactive)."""
    tile_top: np.ndarray
    """[rows, cols] float: z of each tile's floor."""
    n_terrain_boxes: int = 0
    """How many terrain slots this world uses after merging."""




_NO_CELLS: frozenset = frozenset()
#: Every model field that ``load`` writes (what the per-spec cache restores).
_LOADED_FIELDS = (
    "body_pos", "body_quat", "body_user", "body_gravcomp", "body_contype", "body_conaffinity", "geom_size",
    "geom_aabb", "geom_rbound", "geom_rgba", "geom_contype", "geom_conaffinity", "geom_group", "geom_user",
    "eq_active0", "eq_obj2id", "bvh_aabb",
)


class WorldLoader:
    """Writes worlds into copies of one compiled model (see the module docstring).

    Everything a load needs that does not depend on the world is computed here once: slot offsets (the build
    order makes each slot family contiguous, and each static slot body holds exactly its own geom), ramp poses,
    park positions and the base snapshots.
    """

    def __init__(
        self, m: mujoco.MjModel, slots: SlotIndex, capacity: Capacity, physics: PhysicsConfig, cache_size: int = 64
    ):
        self.slots, self.capacity, self.physics, self.cache_size = slots, capacity, physics, cache_size
        self._cache: OrderedDict[ws.WorldSpec, tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, LoadedWorld]]
        self._cache = OrderedDict()
        cap = capacity
        P = cap.players

        def start(ids: np.ndarray, step: int = 1) -> int:
            s0 = int(ids.ravel()[0])
            assert np.array_equal(ids.ravel(), s0 + step * np.arange(ids.size)), "unexpected slot layout"
            return s0

        self._geom_has_body = m.body_geomnum > 0
        self._body_geomadr = m.body_geomadr[self._geom_has_body]
        self._static_with_bvh = bool(np.any(m.body_bvhnum[np.concatenate([slots.tile_body, slots.ramp_body,
                                                                           slots.wall_body])] > 0))
        self._tb0, self._tg0 = start(slots.tile_body), start(slots.tile_geom)
        self._rb0, self._rg0 = start(slots.ramp_body), start(slots.ramp_geom)
        self._wb0, self._wg0 = start(slots.wall_body), start(slots.wall_geom)
        self._ob0, self._fb0 = start(slots.obj_body), start(slots.fixed_body)
        self._ag0, self._an0 = start(slots.avatar_geom, 2), start(slots.avatar_nose, 2)
        self._oq0 = start(slots.obj_qposadr, 7)
        statics_b = np.concatenate([slots.tile_body, slots.ramp_body, slots.wall_body])
        statics_g = np.concatenate([slots.tile_geom, slots.ramp_geom, slots.wall_geom])
        assert np.array_equal(m.body_geomnum[statics_b], np.ones(len(statics_b), dtype=m.body_geomnum.dtype))
        assert np.array_equal(m.body_geomadr[statics_b], statics_g)
        self._obj_geoms_list: list[list[int]] = slots.obj_geoms.tolist()
        self._fixed_geoms_list: list[list[int]] = slots.fixed_geoms.tolist()
        self._shape_bottom_list: list[float] = slots.shape_bottom.tolist()
        ramp_offset, ramp_quat, self._ramp_size = ramp_poses(physics)
        self._ramp_offset_list: list[list[float]] = ramp_offset.tolist()
        self._ramp_quat_list: list[list[float]] = ramp_quat.tolist()
        self._ramp_rbound = np.sqrt((self._ramp_size * self._ramp_size).sum())
        self._obj_park_list: list[list[float]] = object_park(cap.max_objects).tolist()
        self._avatar_park_list: list[list[float]] = avatar_park(P).tolist()
        self._walls: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._fields = tuple(f for f in _LOADED_FIELDS if f != "bvh_aabb" or self._static_with_bvh)
        # base snapshots, one per player count: every slot parked and inert except the walls and the avatars
        mc = copy.copy(m)
        w = slice(self._wg0, self._wg0 + 4)
        mc.geom_contype[w] = 1
        mc.geom_conaffinity[w] = 1
        mc.geom_group[w] = GROUP_TERRAIN
        mc.geom_rgba[w] = WALL_RGBA
        mc.geom_user[w] = [CAT_WALL, NO_COLOUR, 0]
        mc.body_quat[self._wb0 : self._wb0 + 4] = IDENT_QUAT
        mc.body_contype[self._wb0 : self._wb0 + 4] = 1
        mc.body_conaffinity[self._wb0 : self._wb0 + 4] = 1
        mc.body_gravcomp[slots.obj_body] = 1.0
        mc.eq_active0[slots.grab_eq] = 0
        mc.eq_obj2id[slots.grab_eq] = slots.obj_body[0]
        self._base: list[tuple[np.ndarray, ...]] = [()]
        for n in range(1, P + 1):
            ag, an = slice(self._ag0, self._ag0 + 2 * n, 2), slice(self._an0, self._an0 + 2 * n, 2)
            mc.geom_contype[ag] = 1
            mc.geom_conaffinity[ag] = 1
            mc.geom_group[ag] = GROUP_AVATAR
            mc.geom_rgba[ag] = PLAYER_RGBA[:n]
            mc.geom_user[ag, 0] = CAT_AVATAR
            mc.geom_group[an] = GROUP_DECOR
            mc.geom_rgba[an, 3] = 1.0
            mc.body_gravcomp[slots.avatar_body] = np.where(np.arange(P) < n, 0.0, 1.0)
            mc.body_user[slots.avatar_body[:n], 0] = 1.0
            mc.body_contype[self._geom_has_body] = np.bitwise_or.reduceat(mc.geom_contype, self._body_geomadr)
            mc.body_conaffinity[self._geom_has_body] = np.bitwise_or.reduceat(
                mc.geom_conaffinity, self._body_geomadr
            )
            self._base.append(tuple(getattr(mc, f).copy() for f in self._fields))

    def _wall_boxes(self, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``wall_boxes`` memoised per grid size."""
        v = self._walls.get((rows, cols))
        if v is None:
            v = self._walls[(rows, cols)] = wall_boxes(self.physics, rows, cols)
        return v

    def check_fits(self, spec: ws.WorldSpec) -> None:
        """Raise ``ValueError`` naming the field if ``spec`` exceeds the template's capacity."""
        cap = self.capacity
        t = spec.terrain
        if not (1 <= t.rows <= cap.max_rows and 1 <= t.cols <= cap.max_cols):
            raise ValueError(f"terrain: grid {t.rows}x{t.cols} exceeds capacity {cap.max_rows}x{cap.max_cols}")
        if len(spec.objects) > cap.max_objects:
            raise ValueError(f"objects: {len(spec.objects)} objects exceed capacity {cap.max_objects}")
        if len(t.ramps) > cap.max_ramps:
            raise ValueError(f"terrain.ramps: {len(t.ramps)} ramps exceed capacity {cap.max_ramps}")
        if not 1 <= len(spec.spawns) <= cap.players:
            raise ValueError(f"spawns: {len(spec.spawns)} spawns, capacity is 1..{cap.players}")

    def load(
        self, model: mujoco.MjModel, data: mujoco.MjData, spec: ws.WorldSpec, cache: bool = True
    ) -> LoadedWorld:
        """Write ``spec`` into ``model`` in place (no recompilation) and reset ``data`` to the spawns.

        Besides positions and sizes this refreshes every derived field that MuJoCo would otherwise use stale:
        ``geom_aabb``, ``geom_rbound``, ``body_contype``/``body_conaffinity`` (and a body's ``bvh_aabb`` root
        where one exists). Everything is array writes: this runs at every episode reset.

        With ``cache`` the model fields a load writes are remembered per spec (an LRU of ``cache_size`` worlds),
        so reloading a world the curriculum replays is a handful of array copies.
        """
        if cache:
            hit = self._cache.get(spec)
            if hit is not None:
                self._cache.move_to_end(spec)
                fields, qpos, userdata, world = hit
                for name, value in fields.items():
                    np.copyto(getattr(model, name), value)
                mujoco.mj_resetData(model, data)
                data.qpos[:] = qpos
                data.userdata[:] = userdata
                mujoco.mj_forward(model, data)
                return world
        world = self.load_cold(model, data, spec)
        if cache and self.cache_size > 0:
            fields = {name: getattr(model, name).copy() for name in _LOADED_FIELDS}
            self._cache[spec] = (fields, data.qpos.copy(), data.userdata.copy(), world)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return world

    def load_cold(self, model: mujoco.MjModel, data: mujoco.MjData, spec: ws.WorldSpec) -> LoadedWorld:
        """``load`` without the cache: derive every field from the spec.

        Every field starts from the base snapshot for the world's player count (all slots parked and inert),
        then the used slots are written; tile, ramp and wall slots are contiguous, so those are slice writes.
        Per-tile and per-object work is plain Python on the spec's tuples: for a few dozen items that is cheaper
        than building numpy arrays, and every value is computed with the same float operations as before.
        """
        self.check_fits(spec)
        ph, cap, slots = self.physics, self.capacity, self.slots
        ts, lh, depth = ph.tile_size, ph.level_height, ph.floor_depth
        t = spec.terrain
        rows, cols = t.rows, t.cols
        levels = t.levels
        colour_rows = t.floor_colours
        hazard_set = {(c.row, c.col) for c in t.hazards} if t.hazards else _NO_CELLS

        # ---- terrain rectangles
        rects = merge_tiles(t)
        rect_rgba = [HAZARD_RGBA if r[6] else floor_rgba(r[5], r[4]) for r in rects]
        n_rect = len(rects)
        if n_rect > cap.terrain_slots:
            raise ValueError(
                f"terrain: the floor merges into {n_rect} boxes (level, colour and hazard runs), more than the "
                f"template's terrain_boxes={cap.terrain_slots}; use fewer floor-colour patches or a larger capacity"
            )
        n_pl = len(spec.spawns)
        body_pos, geom_size, geom_aabb, geom_rbound = model.body_pos, model.geom_size, model.geom_aabb, model.geom_rbound
        geom_rgba, geom_user, geom_contype = model.geom_rgba, model.geom_user, model.geom_contype
        geom_conaffinity, geom_group = model.geom_conaffinity, model.geom_group
        body_contype, body_conaffinity = model.body_contype, model.body_conaffinity
        body_user, body_gravcomp, body_quat = model.body_user, model.body_gravcomp, model.body_quat
        for name, base in zip(self._fields, self._base[n_pl]):
            np.copyto(getattr(model, name), base)

        R = np.array(rects, dtype=np.int64)  # [n_rect, 7]: c0, r0, c1, r1, level, colour, hazard
        lo, hi = R[:, 0:2], R[:, 2:4]
        tb, tg = slice(self._tb0, self._tb0 + n_rect), slice(self._tg0, self._tg0 + n_rect)
        rtop = R[:, 4] * lh
        body_pos[tb, 0:2] = (lo + hi + 1) * (ts / 2)
        body_pos[tb, 2] = (rtop - depth) / 2
        size = geom_size[tg]
        size[:, 0:2] = (hi - lo + 1) * (ts / 2)
        size[:, 2] = (rtop + depth) / 2
        geom_aabb[tg, 3:] = size
        geom_rbound[tg] = np.sqrt((size * size).sum(1))
        geom_rgba[tg] = rect_rgba
        geom_user[tg, 0] = np.where(R[:, 6] > 0, CAT_HAZARD, CAT_FLOOR)  # merge_tiles never mixes the two
        geom_user[tg, 1:] = R[:, 5:7]
        geom_contype[tg] = 1
        geom_conaffinity[tg] = 1
        geom_group[tg] = GROUP_TERRAIN
        body_contype[tb] = 1
        body_conaffinity[tb] = 1

        # ---- ramps
        n_ramp = len(t.ramps)
        if n_ramp:
            ramp_rows = []
            offs, quats = self._ramp_offset_list, self._ramp_quat_list
            for r in t.ramps:
                rr, rc, d = r.row, r.col, DIR_INDEX[r.direction]
                lv, co, hz = levels[rr][rc], COLOUR_INDEX[colour_rows[rr][rc]], (rr, rc) in hazard_set
                off = offs[d]
                ramp_rows.append(
                    (
                        (rc + 0.5) * ts - off[0], (rr + 0.5) * ts - off[1], lv * lh + lh / 2 - off[2],
                        *quats[d], *(HAZARD_RGBA if hz else floor_rgba(co, lv + 1, True)),
                        CAT_HAZARD if hz else CAT_RAMP, co, hz,
                    )
                )
            A = np.array(ramp_rows)
            rb, rg = slice(self._rb0, self._rb0 + n_ramp), slice(self._rg0, self._rg0 + n_ramp)
            body_pos[rb] = A[:, 0:3]
            body_quat[rb] = A[:, 3:7]
            geom_rgba[rg] = A[:, 7:11]
            geom_user[rg] = A[:, 11:14]
            geom_size[rg] = self._ramp_size
            geom_aabb[rg, 3:] = self._ramp_size
            geom_rbound[rg] = self._ramp_rbound
            geom_contype[rg] = 1
            geom_conaffinity[rg] = 1
            geom_group[rg] = GROUP_TERRAIN
            body_contype[rb] = 1
            body_conaffinity[rb] = 1

        # ---- walls (activated in the base snapshot)
        w_pos, w_size, w_rbound = self._wall_boxes(rows, cols)
        wb, wg = slice(self._wb0, self._wb0 + 4), slice(self._wg0, self._wg0 + 4)
        body_pos[wb] = w_pos
        geom_size[wg] = w_size
        geom_aabb[wg, 3:] = w_size
        geom_rbound[wg] = w_rbound
        if self._static_with_bvh:  # single-geom bodies have no BVH; refresh a root if a body has one
            b = np.concatenate([slots.tile_body[:n_rect], slots.ramp_body[:n_ramp], slots.wall_body])
            has = model.body_bvhnum[b] > 0
            model.bvh_aabb[model.body_bvhadr[b[has]], :3] = 0.0
            model.bvh_aabb[model.body_bvhadr[b[has]], 3:] = geom_size[model.body_geomadr[b[has]]]

        # ---- objects: a free body when movable, a static body when fixed
        n_obj = len(spec.objects)
        N = cap.max_objects
        obj_pos = [list(p) for p in self._obj_park_list]
        shapes, movable = [-1] * N, [False] * N
        if n_obj:
            og, o_user, o_col, act_body, fixed_ids, fixed_pos, gravcomp = [], [], [], [], [], [], [1.0] * N
            bottoms, obj_geoms, fixed_geoms = self._shape_bottom_list, self._obj_geoms_list, self._fixed_geoms_list
            ob0, fb0 = self._ob0, self._fb0
            for i, o in enumerate(spec.objects):
                rr, cc, sh, co, mov = o.row, o.col, SHAPE_INDEX[o.shape], COLOUR_INDEX[o.colour], bool(o.movable)
                shapes[i], movable[i] = sh, mov
                pos = [(cc + 0.5) * ts, (rr + 0.5) * ts, levels[rr][cc] * lh + bottoms[sh] + 1e-3]
                if mov:
                    obj_pos[i] = pos
                    og.append(obj_geoms[i][sh])
                    act_body.append(ob0 + i)
                    gravcomp[i] = 0.0
                else:
                    fixed_ids.append(fb0 + i)
                    fixed_pos.append(pos)
                    og.append(fixed_geoms[i][sh])
                    act_body.append(fb0 + i)
                o_user.append((CAT_OBJECT, co))
                o_col.append(co)
            if fixed_ids:
                body_pos[fixed_ids] = fixed_pos
            og, act_body = np.array(og), np.array(act_body)
            geom_contype[og] = 1
            geom_conaffinity[og] = 1
            geom_group[og] = GROUP_OBJECT
            geom_rgba[og] = COLOUR_RGBA[o_col]
            geom_user[og, 0:2] = o_user
            body_user[act_body, 0] = 1.0
            body_contype[act_body] = 1
            body_conaffinity[act_body] = 1
            body_gravcomp[ob0 : ob0 + N] = gravcomp

        # ---- avatars (activated in the base snapshot)
        av_q = [list(p) for p in self._avatar_park_list]
        hh = ph.avatar_half_height
        for p, sp in enumerate(spec.spawns):
            sr, sc = int(sp.row), int(sp.col)
            av_q[p] = [(sc + 0.5) * ts, (sr + 0.5) * ts, levels[sr][sc] * lh + hh + 1e-3, float(sp.yaw)]

        # ---- reset data to the spawns
        mujoco.mj_resetData(model, data)
        qpos = data.qpos
        oq = qpos[self._oq0 : self._oq0 + 7 * N].reshape(N, 7)
        oq[:, 0:3] = obj_pos
        oq[:, 3:7] = IDENT_QUAT
        qpos[slots.avatar_qpos_slice] = [v for q in av_q for v in q]
        data.userdata[:] = [v for q in av_q for v in (q[2], 0.0)]  # [height last stood at, fall reported]
        mujoco.mj_forward(model, data)

        obj_active = np.zeros(N, dtype=bool)
        obj_active[:n_obj] = True
        return LoadedWorld(
            spec=spec,
            geom_category=geom_user[:, 0].astype(np.int64),
            geom_colour_index=geom_user[:, 1].astype(np.int64),
            geom_hazard=geom_user[:, 2] > 0.5,
            player_active=np.arange(cap.players) < n_pl,
            object_active=obj_active,
            object_movable=np.array(movable, dtype=bool),
            object_shape=np.array(shapes, dtype=np.int64),
            tile_top=np.fromiter(chain.from_iterable(levels), np.int64, rows * cols).reshape(rows, cols) * lh,
            n_terrain_boxes=n_rect,
        )


