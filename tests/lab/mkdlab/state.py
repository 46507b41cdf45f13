"""The state files RUN_DIR/NAME.json: what a lab is made of, recorded before it is created, so
teardown removes exactly that. Reads and writes only those files (atomically: temp + rename).
"""

from __future__ import annotations

import json
import os
import sys

from .common import NAME_RE, RUN_DIR, LabError, _alive


def _state_path(name: str) -> str:
    return os.path.join(RUN_DIR, f"{name}.json")


def _load_state(name: str) -> dict | None:
    try:
        with open(_state_path(name)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LabError(f"unreadable state file {_state_path(name)}: {e}") from e


def _save_state(state: dict) -> None:
    path = _state_path(state["name"])
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _all_states() -> list[dict]:
    out = []
    try:
        names = sorted(os.listdir(RUN_DIR))
    except FileNotFoundError:
        return out
    for fn in names:
        if fn.endswith(".json") and NAME_RE.match(fn[:-5]):
            try:
                st = _load_state(fn[:-5])
            except LabError as e:
                print(f"mkd-lab: warning: {e}", file=sys.stderr)
                continue
            if st:
                out.append(st)
    return out


def _creator_alive(state: dict) -> bool:
    c = state.get("creator", {})
    return _alive(int(c.get("pid", 0)), c.get("start")) if c.get("pid") else False


def _check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise LabError(f"bad lab name {name!r}: 1-32 of [A-Za-z0-9_-], starting alphanumeric")
    return name
