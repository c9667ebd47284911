"""TaskSet: content id, sample/split/filter/describe, and the file round trip with its refusals."""

import json

import numpy as np
import pytest

from curriculum.taskset import FORMAT_VERSION, TaskSet, TaskSetFileError, held_out_sets, set_id
from worlds.tasks.families import task_split
from worlds.tasks.game import TaskGenConfig
from worlds.tasks.families import family_task
from worlds.tasks.game import task_id


@pytest.fixture(scope="module")
def broad() -> TaskSet:
    return TaskSet.from_family("broad", range(24))


def test_content_id_is_the_member_ids(broad):
    again = TaskSet.from_family("broad", range(24), name="another name")
    assert again.id == broad.id == set_id([task_id(t) for t in broad]) and again == broad
    assert TaskSet(list(broad)[::-1]).id != broad.id  # order is part of the identity
    assert broad.ids[3] == task_id(family_task("broad", 3)) and broad.index(broad.ids[3]) == 3
    with pytest.raises(ValueError, match=r"task [0-9a-f]{16} appears twice \(positions 0 and 1\)"):
        TaskSet([broad[0], broad[0]])
    with pytest.raises(ValueError, match="needs at least one task"):
        TaskSet([])
    with pytest.raises(KeyError, match="task nope is not in task set"):
        broad.index("nope")


def test_sample_split_filter(broad):
    draws = broad.sample(np.random.default_rng(3), 50)
    assert [task_id(t) for t in draws] == [task_id(t) for t in broad.sample(np.random.default_rng(3), 50)]
    assert {task_id(t) for t in draws} <= set(broad.ids)
    assert len({task_id(t) for t in broad.sample(np.random.default_rng(0), len(broad), replace=False)}) == len(broad)
    a, b = broad.split(0.25, seed=1)
    assert (len(a), len(b)) == (6, 18) and not set(a.ids) & set(b.ids) and set(a.ids) | set(b.ids) == set(broad.ids)
    assert a.ids == broad.split(0.25, seed=1)[0].ids and a.ids != broad.split(0.25, seed=2)[0].ids
    negated = broad.filter(lambda t: any(p.negated for o in t.game.goals[0].options for p in o))
    assert 0 < len(negated) < len(broad)
    with pytest.raises(ValueError, match="no task of TaskSet"):
        broad.filter(lambda t: False)
    with pytest.raises(ValueError, match="leaves one side empty"):
        broad.split(0.01, seed=0)


def test_describe_counts(broad):
    d = broad.describe()
    assert d["tasks"] == 24 and d["game_kind"] == {"single": 24} and d["players"] == {1: 24}
    assert sum(d["options_per_goal"].values()) == 24 and set(d["options_per_goal"]) <= {1, 2}
    assert set(d["relations"]) == {"near", "on", "hold", "see"}
    assert sum(d["predicates_per_option"].values()) == sum(k * v for k, v in d["options_per_goal"].items())
    assert sum(d["world_size"].values()) == 24 and sum(d["negations_per_goal"].values()) == 24


def test_save_load_round_trip(broad, tmp_path):
    path = broad.save(tmp_path / "broad.jsonl")
    loaded = TaskSet.load(path)
    assert loaded.id == broad.id and loaded.ids == broad.ids and loaded.name == broad.name
    assert loaded.source == {"family": "broad", "split": "train", "seeds": [0, 24, 1]}
    assert len(path.read_text().splitlines()) == 25


def _lines(path):
    return path.read_text().splitlines()


def test_changed_truncated_reordered_and_foreign_files_are_refused(broad, tmp_path):
    path = broad.save(tmp_path / "s.jsonl")
    lines = _lines(path)
    # a task changed (its content no longer hashes to its id)
    entry = json.loads(lines[5])
    entry["task"]["world"]["spawns"][0]["yaw"] = entry["task"]["world"]["spawns"][0]["yaw"] + 0.5
    (tmp_path / "changed.jsonl").write_text("\n".join(lines[:5] + [json.dumps(entry)] + lines[6:]) + "\n")
    with pytest.raises(TaskSetFileError, match=rf"line 6: task {broad.ids[4]}: its content hashes to [0-9a-f]{{16}}"):
        TaskSet.load(tmp_path / "changed.jsonl")
    # truncated: whole lines missing, then a line cut in the middle
    (tmp_path / "short.jsonl").write_text("\n".join(lines[:10]) + "\n")
    with pytest.raises(TaskSetFileError, match=rf"line 11: missing task {broad.ids[9]}: the file is truncated"):
        TaskSet.load(tmp_path / "short.jsonl")
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:10]) + "\n" + lines[10][: len(lines[10]) // 2])
    with pytest.raises(TaskSetFileError, match=rf"line 11: task {broad.ids[9]}: not a valid task line"):
        TaskSet.load(tmp_path / "cut.jsonl")
    # reordered lines
    (tmp_path / "swap.jsonl").write_text("\n".join([lines[0], lines[2], lines[1]] + lines[3:]) + "\n")
    with pytest.raises(TaskSetFileError, match=rf"line 2: task id '{broad.ids[1]}' where the header lists {broad.ids[0]}"):
        TaskSet.load(tmp_path / "swap.jsonl")
    # another format version, and not a task-set file at all
    header = json.loads(lines[0])
    header["version"] = FORMAT_VERSION + 1
    (tmp_path / "v2.jsonl").write_text("\n".join([json.dumps(header)] + lines[1:]) + "\n")
    with pytest.raises(TaskSetFileError, match=rf"line 1: task-set format version {FORMAT_VERSION + 1}; this openland reads version {FORMAT_VERSION}"):
        TaskSet.load(tmp_path / "v2.jsonl")
    (tmp_path / "x.jsonl").write_text('{"hello": 1}\n')
    with pytest.raises(TaskSetFileError, match="not an openland task-set file"):
        TaskSet.load(tmp_path / "x.jsonl")


def test_held_out_sets_and_generator_configs():
    sets = held_out_sets("broad", 6)
    assert set(sets) == {"held_out_world", "held_out_game"}
    for split, tasks in sets.items():
        assert {task_split(t, "broad") for t in tasks} == {split} and tasks.source["split"] == split
    assert set(held_out_sets("hold", 3)) == {"held_out_world"}
    generated = TaskSet.from_generator(TaskGenConfig(min_players=2, max_players=2, max_options=1), range(4))
    assert generated.describe()["players"] == {2: len(generated)}
