"""Offscreen pictures of a world: a perspective view and a top-down view side by side in one PNG, and the
optional first-person RGB observation.

Rendering needs an OpenGL backend without a display. EGL works headless (OSMesa is often not installed, GLFW
needs a display), so ``ensure_egl`` switches MuJoCo's renderer to it when rendering starts, unless the user chose
a backend with ``MUJOCO_GL``. Importing this module changes nothing.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import mujoco
import numpy as np

from worlds.sim.template import GROUP_DECOR, Capacity, PhysicsConfig, WorldTemplate
from worlds.tasks.spec import WorldSpec


def ensure_egl() -> None:
    """Make MuJoCo's offscreen renderer use EGL, unless ``MUJOCO_GL`` names a backend. Call before creating a
    ``mujoco.Renderer``: ``import mujoco`` picks GLFW when ``MUJOCO_GL`` is unset, which fails without a display.
    Idempotent and cheap."""
    if os.environ.get("MUJOCO_GL"):
        return
    from mujoco.rendering.classic import gl_context

    current = getattr(gl_context, "GLContext", None)
    if current is None or current.__module__.startswith("mujoco.egl"):
        return
    from mujoco.egl import GLContext as EGLContext

    gl_context.GLContext = EGLContext


_TEMPLATES: dict[tuple[Capacity, PhysicsConfig], WorldTemplate] = {}


def _template(capacity: Capacity, physics: PhysicsConfig) -> WorldTemplate:
    key = (capacity, physics)
    if key not in _TEMPLATES:
        _TEMPLATES[key] = WorldTemplate(capacity, physics)
    return _TEMPLATES[key]


def render_world_views(
    spec: WorldSpec,
    width: int = 640,
    height: int = 480,
    physics: PhysicsConfig = PhysicsConfig(),
    capacity: Capacity = Capacity(),
) -> tuple[np.ndarray, np.ndarray]:
    """(perspective, top-down) RGB uint8 images of ``spec`` at its spawn state."""
    ensure_egl()
    template = _template(capacity, physics)
    model = template.new_model()
    model.vis.global_.offwidth = max(model.vis.global_.offwidth, width)
    model.vis.global_.offheight = max(model.vis.global_.offheight, height)
    data = mujoco.MjData(model)
    template.load(model, data, spec)
    ts = physics.tile_size
    sx, sy = spec.terrain.cols * ts, spec.terrain.rows * ts
    centre = np.array([sx / 2, sy / 2, physics.level_height])
    span = max(sx, sy)
    opt = mujoco.MjvOption()
    opt.geomgroup[GROUP_DECOR] = 1  # show the avatars' facing markers
    with mujoco.Renderer(model, height=height, width=width) as renderer:
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.lookat[:] = centre
        cam.distance = 1.15 * span
        cam.azimuth = -60.0
        cam.elevation = -38.0
        renderer.update_scene(data, camera=cam, scene_option=opt)
        perspective = renderer.render().copy()
        top = mujoco.MjvCamera()
        top.type = mujoco.mjtCamera.mjCAMERA_FREE
        top.lookat[:] = [sx / 2, sy / 2, 0.0]
        fovy = model.vis.global_.fovy
        fit = max(sy, sx * height / width) / 2 + physics.wall_thickness
        top.distance = fit / math.tan(math.radians(fovy) / 2) + physics.wall_height
        top.azimuth = 90.0  # +y (rows) points up in the image
        top.elevation = -90.0
        renderer.update_scene(data, camera=top, scene_option=opt)
        topdown = renderer.render().copy()
    return perspective, topdown


def render_world_png(
    spec: WorldSpec,
    path: str | os.PathLike[str],
    width: int = 640,
    height: int = 480,
    physics: PhysicsConfig = PhysicsConfig(),
    capacity: Capacity = Capacity(),
) -> Path:
    """Write a ``2 * width`` x ``height`` PNG: perspective view on the left, top-down view on the right."""
    from PIL import Image

    perspective, topdown = render_world_views(spec, width, height, physics, capacity)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([perspective, topdown], axis=1)).save(out)
    return out


class EgocentricCamera:
    """First-person RGB views of every player of a ``BatchEnv``, from MuJoCo's offscreen renderer (EGL).

    One renderer per env (a renderer is bound to one model, and each env has its own model copy); the camera
    sits at each avatar's eyes and looks along its heading. Rendering is the optional, slow observation: the
    ray camera is what agents train on by default.
    """

    def __init__(self, models: list, height: int, width: int, fovy: float = 75.0):
        ensure_egl()
        self.height, self.width = height, width
        self._renderers = []
        for model in models:
            model.vis.global_.fovy = fovy
            self._renderers.append(mujoco.Renderer(model, height=height, width=width))
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE

    def render(self, datas: list, eye_pos: np.ndarray, yaw: np.ndarray, active: np.ndarray) -> np.ndarray:
        """uint8 [E, P, H, W, 3]; inactive players see black. ``eye_pos`` [E, P, 3], ``yaw`` [E, P]."""
        E, P = yaw.shape
        out = np.zeros((E, P, self.height, self.width, 3), dtype=np.uint8)
        cam = self._camera
        for e, (renderer, data) in enumerate(zip(self._renderers, datas)):
            for p in np.flatnonzero(active[e]):
                # a free camera looks at ``lookat`` from ``distance`` away: put the eye at the avatar, looking ahead
                cam.distance = 0.05
                cam.azimuth = float(np.degrees(yaw[e, p]))
                cam.elevation = -8.0
                ahead = np.array([np.cos(yaw[e, p]), np.sin(yaw[e, p]), 0.0]) * cam.distance
                cam.lookat[:] = eye_pos[e, p] + ahead
                renderer.update_scene(data, camera=cam)
                out[e, p] = renderer.render()
        return out

    def close(self) -> None:
        for renderer in self._renderers:
            renderer.close()
        self._renderers = []
