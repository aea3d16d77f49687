"""The results store: every run and ensemble under one root (default `results/`), each with its manifest.

Layout (one directory per entry, found by globbing, so there is no hand-written index to fall out of step):

    results/<id>/manifest.json          what made it: scenario as run, input hash, seeds, model version,
                                        backend, timings, and the SHA-256 of every data file
    results/<id>/<table>.parquet        the series (an ensemble's tables carry a `run` column)
    results/<id>/runs/r000012/          an ensemble's finished runs while it is being computed (resume)

The catalogue is DuckDB reading every `manifest.json` at query time. Every file is written to a temporary
name in the same directory and moved into place with `os.replace`, so a crash at any moment leaves either
the old state or the new one, never a half-written file that could be read as a result. An ensemble's
`manifest.json` is written last: an entry without one is unfinished and is resumed, not read.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from model.scenario import ScenarioError

DEFAULT_ROOT = Path(os.environ.get("PHB_RESULTS", "results"))
RUN_DIR = re.compile(r"^r(\d{6})$")


class StoreError(ScenarioError):
    """A stored result cannot be found or trusted: the message names it and says what to do."""


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

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def path(self, entry_id: str) -> Path:
        return self.root / entry_id

    # -- one ensemble's finished runs (resume) --
    def _runs_dir(self, entry_id: str) -> Path:
        return self.path(entry_id) / "runs"

    def completed_runs(self, entry_id: str) -> list[int]:
        """Indices of runs already stored whole; leftovers of a killed writer are removed."""
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
            for name, df in tables.items():
                (tmp / f"{name}.parquet").write_bytes(parquet_bytes(df))
            (tmp / "record.json").write_text(json.dumps(record, default=str), encoding="utf-8")
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def read_run(self, entry_id: str, index: int) -> tuple[dict[str, pd.DataFrame], dict] | None:
        """A stored run, or None if it is unreadable (then it is deleted, to be computed again)."""
        d = self._runs_dir(entry_id) / f"r{index:06d}"
        try:
            record = json.loads((d / "record.json").read_text(encoding="utf-8"))
            tables = {p.stem: pd.read_parquet(p) for p in sorted(d.glob("*.parquet"))}
            return tables, record
        except (OSError, ValueError, Exception):  # noqa: BLE001 - any damage means: recompute this run
            shutil.rmtree(d, ignore_errors=True)
            return None

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
            manifest = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError("not a mapping")
        except (ValueError, UnicodeDecodeError) as e:
            raise StoreError(f"{path}: the manifest is corrupt ({e}); delete {path.parent} to compute it again") from None
        return manifest

    def read_entry(self, entry_id: str, tables: list[str] | None = None) -> tuple[dict[str, pd.DataFrame], dict]:
        """Read an entry's tables, checking each file against the hash in its manifest."""
        manifest = self.manifest(entry_id)
        d = self.path(entry_id)
        files = manifest.get("files")
        if files is None:  # a single run written by `phb run`: no hashes, read what is there
            files = {f"{t}.parquet": None for t in manifest.get("tables", [])}
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
        """Every finished run and ensemble: DuckDB reading all manifests (newest first)."""
        import duckdb

        cols = ["id", "kind", "scenario", "seed", "runs", "mode", "agent_scale", "backend", "model_version",
                "created", "wall_seconds", "input_hash", "path"]
        manifests = sorted(self.root.glob("*/manifest.json")) if self.root.is_dir() else []
        if not manifests:
            return pd.DataFrame(columns=cols)
        files = [str(p) for p in manifests]
        con = duckdb.connect()
        try:
            raw = con.execute("SELECT * FROM read_json(?, union_by_name=true, filename=true, "
                              "ignore_errors=true)", [files]).df()
        except duckdb.Error as e:
            raise StoreError(f"{self.root}: cannot read the catalogue of manifests ({e})") from None
        finally:
            con.close()

        def col(name, default=None):
            return raw[name] if name in raw.columns else pd.Series([default] * len(raw), index=raw.index)

        out = pd.DataFrame({
            "id": col("id").fillna(col("run_id")),
            "kind": col("kind").fillna("run"),
            "scenario": col("scenario"), "seed": col("seed"), "runs": col("runs").fillna(1),
            "mode": col("mode"), "agent_scale": col("agent_scale"), "backend": col("backend").fillna("single"),
            "model_version": col("model_version"), "created": col("created"), "wall_seconds": col("wall_seconds"),
            "input_hash": col("input_hash"), "path": raw["filename"].map(lambda f: str(Path(f).parent)),
        })
        out["id"] = out["id"].fillna(out["path"].map(lambda p: Path(p).name))
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
        if self.has(entry_id):
            return entry_id
        ids = self.catalogue()["id"].tolist() if self.root.is_dir() else []
        matches = [i for i in ids if str(i).startswith(entry_id)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise StoreError(f"run '{entry_id}' is ambiguous: it could be {', '.join(matches[:6])}")
        raise StoreError(self._unknown(entry_id))
