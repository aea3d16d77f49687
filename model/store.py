"""The results store: every run and ensemble under one root (default `results/`), each with its manifest.

Layout (one directory per entry, found by globbing, so there is no hand-written index to fall out of step):

    results/<id>/manifest.json          what made it: scenario as run, input hash, seeds, model version,
                                        backend, timings, and the SHA-256 of every data file
    results/<id>/<table>.parquet        the series (an ensemble's tables carry a `run` column)
    results/<id>/runs/r000012/          an ensemble's finished runs while it is being computed (resume)

The catalogue reads every `manifest.json` at query time (DuckDB answers SQL over it); a manifest that is
corrupt or of the wrong shape is reported in `Store.damaged` and skipped, never hides the others. Every
file is written to a temporary name in the same directory and moved into place with `os.replace`, so a
crash at any moment leaves either the old state or the new one, never a half-written file that could be
read as a result. An ensemble's `manifest.json` is written last: an entry without one is unfinished and is
resumed, not read. A stored run's `record.json` carries the entry, the index and the SHA-256 of each of
its files, all checked before it is resumed; a run that fails is reported and computed again. One writer
per entry: `Store.lock(id)` (an flock on `<id>/.lock`) is held while an ensemble computes, so a
second session asking for the same ensemble waits and then reads the first one's result.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from model.scenario import ScenarioError

DEFAULT_ROOT = Path(os.environ.get("PHB_RESULTS", "results"))
RUN_DIR = re.compile(r"^r(\d{6})$")
ENTRY_ID = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,199}$")  # a directory name directly under the root
FILE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,100}\.parquet$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


class StoreError(ScenarioError):
    """A stored result cannot be found or trusted: the message names it and says what to do."""


class StoreWarning(UserWarning):
    """A damaged file in the store was skipped (and, for a run of an unfinished ensemble, recomputed)."""


def _run_problem(record: Any, entry_id: str, index: int, required: tuple[str, ...]) -> str | None:
    if not isinstance(record, dict):
        return "record.json is not a mapping"
    if record.get("entry") != entry_id or record.get("index") != index:
        return (f"its record says entry {str(record.get('entry'))[:80]!r}, run {str(record.get('index'))[:20]}: "
                "copied from elsewhere")
    files = record.get("files")
    if not isinstance(files, dict) or not all(isinstance(k, str) and FILE_NAME.fullmatch(k) and isinstance(v, str)
                                              and SHA256.fullmatch(v) for k, v in files.items()):
        return "record.json has no valid list of files and checksums"
    missing = [t for t in required if f"{t}.parquet" not in files]
    return f"missing table(s) {', '.join(missing)}" if missing else None


# ---- atomic writes --------------------------------------------------------------------------------------
def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def atomic_write_parquet(df: pd.DataFrame, path: Path) -> str:
    """Write `df` as Parquet atomically; return the file's SHA-256."""
    data = parquet_bytes(df)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def atomic_write_json(obj: Any, path: Path) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=str).encode("utf-8"))


def check_entry_id(entry_id: Any, what: str = "run") -> str:
    """A run or ensemble id as typed by a user: one plain directory name under the store, nothing else."""
    if not isinstance(entry_id, str) or not ENTRY_ID.fullmatch(entry_id) or ".." in entry_id:
        shown = repr(entry_id) if len(repr(entry_id)) <= 80 else repr(entry_id)[:80] + "…"
        raise StoreError(f"{what} id {shown} is not allowed; an id is letters, digits, '_', '-' and '.', 1 to 200 "
                         "characters, as `phb runs list` shows (no paths)")
    return entry_id


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- the store -------------------------------------------------------------------------------------------
class Store:
    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else DEFAULT_ROOT
        self.damaged: list[str] = []  # what was found damaged and skipped, for the caller to report

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def path(self, entry_id: str) -> Path:
        return self.root / check_entry_id(entry_id)

    @contextlib.contextmanager
    def lock(self, entry_id: str) -> Iterator[None]:
        """Hold the one-writer lock of an entry (other processes and other threads wait for it)."""
        import fcntl

        check_entry_id(entry_id)
        where = self.root / entry_id
        where.mkdir(parents=True, exist_ok=True)
        path = where / ".lock"
        key = str(path.resolve())
        with _THREAD_LOCKS_GUARD:
            tlock = _THREAD_LOCKS.setdefault(key, threading.Lock())
        with tlock, open(path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # -- one ensemble's finished runs (resume) --
    def _runs_dir(self, entry_id: str) -> Path:
        return self.path(entry_id) / "runs"

    def completed_runs(self, entry_id: str) -> list[int]:
        """Indices of runs stored whole; leftovers of a killed writer are removed."""
        d = self._runs_dir(entry_id)
        if not d.is_dir():
            return []
        done = []
        for child in d.iterdir():
            m = RUN_DIR.match(child.name)
            if m and (child / "record.json").is_file():
                done.append(int(m.group(1)))
            elif child.name.startswith(".tmp-"):
                shutil.rmtree(child, ignore_errors=True)
        return sorted(done)

    def write_run(self, entry_id: str, index: int, tables: dict[str, pd.DataFrame], record: dict) -> None:
        """Store one finished run: written in a temporary directory, then renamed into place whole."""
        d = self._runs_dir(entry_id)
        d.mkdir(parents=True, exist_ok=True)
        final = d / f"r{index:06d}"
        if final.exists():
            return
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-r{index:06d}-", dir=d))
        try:
            files = {}
            for name, df in tables.items():
                data = parquet_bytes(df)
                (tmp / f"{name}.parquet").write_bytes(data)
                files[f"{name}.parquet"] = hashlib.sha256(data).hexdigest()
            record = {**record, "entry": entry_id, "index": index, "files": files}
            (tmp / "record.json").write_text(json.dumps(record, default=str), encoding="utf-8")
            try:
                os.replace(tmp, final)
            except OSError as e:  # another writer stored the same run first: theirs is as good as ours
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not final.exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def read_run(self, entry_id: str, index: int, required: tuple[str, ...] = ()
                 ) -> tuple[dict[str, pd.DataFrame], dict] | None:
        """A stored run checked against its record (entry, index, each file's SHA-256, the tables
        `required`), or None if it fails: it is then reported, deleted and computed again."""
        d = self._runs_dir(entry_id) / f"r{index:06d}"
        try:
            record = json.loads((d / "record.json").read_text(encoding="utf-8"))
            problem = _run_problem(record, entry_id, index, required)
            if problem is None:
                on_disk = sorted(p.name for p in d.glob("*.parquet"))
                if on_disk != sorted(record["files"]):
                    problem = f"files on disk {on_disk} differ from its record {sorted(record['files'])}"
            if problem is None:
                for fname, digest in record["files"].items():
                    if sha256_file(d / fname) != digest:
                        problem = f"{fname} does not match its checksum"
                        break
            if problem is None:
                tables = {Path(f).stem: pd.read_parquet(d / f) for f in sorted(record["files"])}
                return tables, record
        except Exception as e:  # noqa: BLE001 - any damage means: recompute this run
            problem = f"unreadable ({type(e).__name__})"
        warnings.warn(f"{d}: stored run is damaged ({problem}); computing it again", StoreWarning, stacklevel=2)
        self.damaged.append(f"{d}: {problem}")
        shutil.rmtree(d, ignore_errors=True)
        return None

    def drop_run(self, entry_id: str, index: int) -> None:
        shutil.rmtree(self._runs_dir(entry_id) / f"r{index:06d}", ignore_errors=True)

    def drop_runs(self, entry_id: str) -> None:
        shutil.rmtree(self._runs_dir(entry_id), ignore_errors=True)

    # -- finished entries --
    def has(self, entry_id: str) -> bool:
        return (self.path(entry_id) / "manifest.json").is_file()

    def write_entry(self, entry_id: str, tables: dict[str, pd.DataFrame], manifest: dict) -> dict:
        """Write every table, then the manifest (with each file's hash) last; return the manifest written."""
        d = self.path(entry_id)
        files = {f"{name}.parquet": atomic_write_parquet(df, d / f"{name}.parquet") for name, df in tables.items()}
        manifest = {**manifest, "id": entry_id, "files": files}
        atomic_write_json(manifest, d / "manifest.json")
        return manifest

    def manifest(self, entry_id: str) -> dict:
        path = self.path(entry_id) / "manifest.json"
        if not path.is_file():
            raise StoreError(self._unknown(entry_id))
        try:
            if path.stat().st_size > MAX_MANIFEST_BYTES:
                raise ValueError(f"larger than {MAX_MANIFEST_BYTES:,} bytes")
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError("not a mapping")
            files = manifest.get("files")
            if files is not None and not (isinstance(files, dict) and all(
                    isinstance(k, str) and FILE_NAME.fullmatch(k) and (v is None or (isinstance(v, str)
                                                                                     and SHA256.fullmatch(v)))
                    for k, v in files.items())):
                raise ValueError("'files' must map plain .parquet names to SHA-256 checksums")
            tables = manifest.get("tables")
            if tables is not None and not (isinstance(tables, list) and all(
                    isinstance(t, str) and FILE_NAME.fullmatch(f"{t}.parquet") for t in tables)):
                raise ValueError("'tables' must be a list of plain table names")
        except (ValueError, UnicodeDecodeError, RecursionError, OSError) as e:
            raise StoreError(f"{path}: the manifest is corrupt ({str(e)[:200]}); delete {path.parent} to compute "
                             "it again") from None
        return manifest

    def read_entry(self, entry_id: str, tables: list[str] | None = None) -> tuple[dict[str, pd.DataFrame], dict]:
        """Read an entry's tables, checking each file against the hash in its manifest."""
        manifest = self.manifest(entry_id)
        d = self.path(entry_id)
        files = manifest.get("files")
        if files is None and manifest.get("kind") == "ensemble":
            raise StoreError(f"{d / 'manifest.json'}: an ensemble's manifest must list its files and checksums; "
                             f"delete {d} to compute it again")
        if manifest.get("kind") == "ensemble":
            missing = [t for t in ("national", "runs") if f"{t}.parquet" not in files]
            if missing:
                raise StoreError(f"{d / 'manifest.json'}: table(s) {', '.join(missing)} missing from the ensemble; "
                                 f"delete {d} to compute it again")
        if files is None:  # a single run written by `phb run`: no hashes, read what is there
            files = {f"{t}.parquet": None for t in (manifest.get("tables") or [])}
        out = {}
        for fname, digest in files.items():
            name = fname.removesuffix(".parquet")
            if tables is not None and name not in tables:
                continue
            path = d / fname
            if not path.is_file():
                raise StoreError(f"{path}: missing from stored result '{entry_id}'; delete {d} to compute it again")
            if digest is not None and sha256_file(path) != digest:
                raise StoreError(f"{path}: corrupt or changed since it was written (checksum does not match "
                                 f"manifest.json); delete {d} to compute it again")
            try:
                out[name] = pd.read_parquet(path)
            except Exception as e:  # noqa: BLE001 - an unreadable file is reported, not raised as a traceback
                raise StoreError(f"{path}: not a readable Parquet file ({type(e).__name__}); delete {d} to "
                                 "compute it again") from None
        return out, manifest

    # -- the catalogue --
    def catalogue(self) -> pd.DataFrame:
        """Every finished run and ensemble (newest first); damaged manifests are skipped and listed in
        `self.damaged`, so one bad file never hides the rest."""
        cols = ["id", "kind", "scenario", "seed", "runs", "mode", "agent_scale", "backend", "model_version",
                "created", "wall_seconds", "input_hash", "path"]
        rows = []
        self.damaged = [d for d in self.damaged if "manifest" not in d]
        for path in sorted(self.root.glob("*/manifest.json")) if self.root.is_dir() else []:
            eid = path.parent.name
            try:
                check_entry_id(eid)
                m = self.manifest(eid)
            except StoreError as e:
                self.damaged.append(str(e))
                continue

            def text(key, default=None, m=m):
                v = m.get(key, default)
                return v if v is None or isinstance(v, str) else str(v)[:200]

            def number(key, default=None, m=m):
                v = m.get(key, default)
                return v if isinstance(v, (int, float)) and not isinstance(v, bool) else default

            rows.append({"id": text("id") if isinstance(m.get("id"), str) else (text("run_id") or eid),
                         "kind": text("kind", "run"), "scenario": text("scenario"), "seed": number("seed"),
                         "runs": number("runs", 1), "mode": text("mode"), "agent_scale": number("agent_scale"),
                         "backend": text("backend", "single"), "model_version": text("model_version"),
                         "created": text("created"), "wall_seconds": number("wall_seconds"),
                         "input_hash": text("input_hash"), "path": str(path.parent)})
        if not rows:
            return pd.DataFrame(columns=cols)
        out = pd.DataFrame(rows, columns=cols)
        out["created"] = out["created"].fillna("")
        return out.sort_values(["created", "id"], ascending=[False, True], kind="stable").reset_index(drop=True)

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL against the catalogue, exposed to DuckDB as the table `catalogue`."""
        import duckdb

        catalogue = self.catalogue()  # noqa: F841 - read by DuckDB's replacement scan
        con = duckdb.connect()
        try:
            con.register("catalogue", catalogue)
            return con.execute(sql).df()
        finally:
            con.close()

    def _unknown(self, entry_id: str) -> str:
        known = self.catalogue()["id"].tolist() if self.root.is_dir() else []
        listing = ", ".join(known[:8]) + (f", … ({len(known)} in all)" if len(known) > 8 else "")
        return (f"unknown run '{entry_id}' in {self.root}/; " +
                (f"known: {listing} (see `phb runs list`)" if known else "the store is empty; run `phb run` or "
                 "`phb ensemble` first"))

    def resolve(self, entry_id: str) -> str:
        """The full id of a stored entry from its id or a unique prefix of it."""
        check_entry_id(entry_id)
        if self.has(entry_id):
            return entry_id
        ids = self.catalogue()["id"].tolist() if self.root.is_dir() else []
        matches = [i for i in ids if str(i).startswith(entry_id)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise StoreError(f"run '{entry_id}' is ambiguous: it could be {', '.join(matches[:6])}")
        raise StoreError(self._unknown(entry_id))
