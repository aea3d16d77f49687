"""What produced a result: a digest of the model's own code and shipped tables.

Stored ensembles are found again by a key of their inputs (model/ensemble.py `input_hash`). The package
version alone did not change when a rule did, so after a change to the model a stored ensemble made by the
former rules was read back as if it were current. The key now carries this digest: any change to a file
of the model (its rules, register, or the tables it reads) gives new keys, and runs are made afresh.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent
SUFFIXES = (".py", ".csv", ".yaml", ".json")  # the code, the register and the tables the model reads


def code_digest(root: Path = MODEL_DIR) -> str:
    """sha256 (first 16 hex digits) over every model file's path (relative to `root`) and content, in path order."""
    return _digest(Path(root).resolve())


@functools.lru_cache(maxsize=4)
def _digest(root: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and "__pycache__" not in p.parts)
    for path in files:
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]
