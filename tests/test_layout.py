"""The import direction of the layout (ARCHITECTURE.md), checked on the source: every ``import`` and
``from ... import`` statement, at module level or inside a function, of every module of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("worlds", "agents", "curriculum", "safety", "population", "viewer", "launch")
#: What each package (and each worlds sub-package) may import of ours, itself included.
ALLOWED: dict[str, set[str]] = {
    "worlds.tasks": {"worlds.tasks"},
    "worlds.sim": {"worlds.tasks", "worlds.sim"},
    "worlds.envs": {"worlds.tasks", "worlds.sim", "worlds.envs"},
    "worlds.episodes": {"worlds.tasks", "worlds.sim", "worlds.envs", "worlds.episodes"},
    "worlds.experts": {"worlds.tasks", "worlds.sim", "worlds.envs", "worlds.experts"},
    "worlds": {"worlds"},
    "agents": {"worlds", "agents"},
    # the single-process trainer's entry point composes the agent with its task distribution (curriculum imports
    # only worlds), so `openland train --local --curriculum plr` needs no Ray and no population
    "agents.local_train": {"worlds", "agents", "curriculum"},
    "curriculum": {"worlds", "curriculum"},
    "viewer": {"worlds", "viewer"},
    "safety": {"worlds", "agents", "safety"},
    "population": {"worlds", "agents", "curriculum", "safety", "population"},
    "launch": set(OURS),
}
#: Third-party packages a layer must not import: the simulation stays free of JAX and Ray, specs of MuJoCo.
FORBIDDEN: dict[str, set[str]] = {
    "worlds.tasks": {"jax", "ray", "mujoco", "numba", "flax"},
    "worlds": {"jax", "ray", "flax", "optax", "orbax"},
    "agents": {"ray"}, "curriculum": {"ray", "jax"}, "viewer": {"ray", "jax"}, "safety": {"ray"},
}  # fmt: skip


def _owner(module: str, table: dict[str, set[str]]) -> str | None:
    """The most specific entry of ``table`` that ``module`` belongs to."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in table:
            return ".".join(parts[:n])
    return None


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: -node.level]
                out.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            elif node.module:
                out.append((node.lineno, node.module))
    return out


def _modules() -> list[tuple[Path, str]]:
    found = []
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            found.append((path, ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)))
    return found


@pytest.mark.parametrize("package", OURS)
def test_imports_point_one_way(package: str) -> None:
    problems = []
    modules = [(p, m) for p, m in _modules() if m.split(".")[0] == package]
    assert modules, package
    for path, module in modules:
        allowed = ALLOWED[_owner(module, ALLOWED)]
        forbidden = FORBIDDEN.get(_owner(module, FORBIDDEN) or "", set())
        for line, target in _imports(path, module):
            top = target.split(".")[0]
            if top in OURS:
                if target == "worlds" and package == "worlds":
                    continue  # the root package holds only the Gymnasium id and lazy names, no layer
                owner = _owner(target, ALLOWED) or top
                if not any(owner == a or owner.startswith(a + ".") for a in allowed):
                    problems.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
            elif top in forbidden or (top == "ray" and package not in ("population", "launch")):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not problems, "imports against the layout:\n" + "\n".join(problems)
