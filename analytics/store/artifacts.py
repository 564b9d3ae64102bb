"""Versioned model artifacts on disk, so the action server loads fitted models
instead of refitting them.

Layout under ``root``::

    root/<name>/
        v0001/model.joblib       the fitted object (model.pkl when joblib is missing)
        v0001/metadata.json      created_at, library versions, data hash, the caller's metadata
        v0002/...
        current                  the version served, e.g. "v0002"

A save writes the new version into a temporary folder beside the others and
renames it into place, then replaces ``current`` through a temporary file
and :func:`os.replace`. Both renames are atomic on one file system, so a
reader sees the previous version or the new one, never half of one, and a
save that fails (an object that does not pickle, a full disk) leaves the
previous ``current`` as it was.

Artifacts are pickles: load only what this project wrote (the ``root`` is
ours, under ``var/``); each metadata file records the model file's SHA-256,
and :meth:`ArtifactStore.load` refuses a file that does not match.

Examples
--------
>>> import tempfile
>>> store = ArtifactStore(Path(tempfile.mkdtemp()))
>>> store.save("basket_rules", {"rules": 3}, {"data_hash": "abc"})
'v0001'
>>> store.load("basket_rules")
{'rules': 3}
>>> store.metadata("basket_rules")["data_hash"]
'abc'
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import platform
import re
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import pandas as pd

from analytics.core.errors import InvalidInput, NotFound
from analytics.core.files import file_sha256


def _find_joblib() -> Optional[ModuleType]:
    # scikit-learn depends on joblib, so it is there in practice; plain pickle does the same job, slower
    # on large numpy arrays.
    try:
        return importlib.import_module("joblib")
    except ImportError:  # pragma: no cover - joblib comes with scikit-learn
        return None


joblib = _find_joblib()

#: Libraries whose versions each artifact records (those installed).
LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "mlxtend", "joblib", "SQLAlchemy")
#: The command that builds each artifact, for the "missing artifact" error.
BUILD_COMMANDS: dict[str, str] = {
    "recommender": "crm recommend refresh",
    "basket": "crm recommend refresh",
    "sequence_rules": "crm recommend refresh",
}
CURRENT = "current"
METADATA = "metadata.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VERSION = re.compile(r"^v(\d{4,12})$")


class ArtifactNotFound(NotFound):
    """No such artifact, or no such version of it; the message says how to build it."""

    def __init__(self, name: str, root: Path, detail: str, command: Optional[str]) -> None:
        how = f"build it with `{command}`" if command else "fit the model and save it with ArtifactStore.save"
        super().__init__(f"No model artifact {name!r} in {root}: {detail}; {how}.")
        self.name = name
        self.root = root


class ArtifactOutdated(ArtifactNotFound):
    """An artifact saved by an older layout of the code: its pickle names a module or class that no longer exists."""

    def __init__(self, name: str, version: str, root: Path, missing: str, command: Optional[str]) -> None:
        how = f"run `{command}`" if command else "fit the model and save it again with ArtifactStore.save"
        NotFound.__init__(  # its own message, not ArtifactNotFound's "no model artifact"
            self,
            f"The model artifact {name!r} {version} in {root} was saved by an older version of the code and "
            f"cannot be loaded ({missing}); {how} to rebuild it.",
        )
        self.name = name
        self.root = root


def data_hash(data: object) -> str:
    """A SHA-256 fingerprint of a frame (or bytes or a string), for an artifact's metadata.

    Two frames with the same values, index and column names in the same
    order have the same hash.

    Examples
    --------
    >>> a = pd.DataFrame({"order_id": [1, 1], "product_id": [5, 6]})
    >>> data_hash(a) == data_hash(a.copy()), data_hash(a) == data_hash(a.iloc[::-1])
    (True, False)
    """
    digest = hashlib.sha256()
    if isinstance(data, pd.DataFrame):
        digest.update(json.dumps([str(c) for c in data.columns]).encode())
        digest.update(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes())
    elif isinstance(data, pd.Series):
        digest.update(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes())
    elif isinstance(data, bytes):
        digest.update(data)
    elif isinstance(data, str):
        digest.update(data.encode())
    else:
        raise InvalidInput(f"data_hash takes a DataFrame, Series, bytes or str, not {type(data).__name__}.")
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Python and the installed versions of :data:`LIBRARIES`."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class ArtifactStore:
    """Versioned, atomically written model artifacts under ``root``.

    Parameters
    ----------
    root : Path
        The folder holding one sub-folder per artifact name.
    keep : int or None, default None
        After each save, keep only the ``keep`` newest versions of that
        artifact (and the current one, should a rollback have made an older
        version current). None keeps everything.
    build_commands : mapping name -> command, optional
        The command that builds each artifact, quoted when one is missing.
        Default: :data:`BUILD_COMMANDS`.
    """

    def __init__(
        self, root: Path, *, keep: Optional[int] = None, build_commands: Optional[Mapping[str, str]] = None
    ) -> None:
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
            raise InvalidInput(f"keep must be a whole number of versions >= 1, or None to keep all; not {keep!r}.")
        self.root = Path(root)
        self.keep = keep
        self.build_commands = dict(BUILD_COMMANDS if build_commands is None else build_commands)

    # ------------------------------------------------------------------ paths and checks

    def _folder(self, name: str) -> Path:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput(
                f"artifact name must be 1-64 letters, digits, '_', '.' or '-' starting with a letter or digit, "
                f"such as 'basket_rules'; not {name!r}."
            )
        return self.root / name

    def _missing(self, name: str, detail: str) -> ArtifactNotFound:
        return ArtifactNotFound(name, self.root, detail, self.build_commands.get(name))

    # ------------------------------------------------------------------ reading

    def versions(self, name: str) -> list[str]:
        """The saved versions of ``name``, oldest first (empty if none)."""
        folder = self._folder(name)
        if not folder.is_dir():
            return []
        found = [(int(m.group(1)), p.name) for p in folder.iterdir() if p.is_dir() and (m := _VERSION.match(p.name))]
        return [v for _, v in sorted(found)]

    def current(self, name: str) -> str:
        """The version ``load(name)`` returns.

        Raises
        ------
        ArtifactNotFound
            If ``name`` was never saved.
        """
        pointer = self._folder(name) / CURRENT
        try:
            version = pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise self._missing(name, "it has never been built") from None
        if not _VERSION.match(version) or not (pointer.parent / version).is_dir():
            raise self._missing(name, f"its current pointer names {version!r}, which is not a saved version")
        return version

    def _version_folder(self, name: str, version: Optional[str]) -> Path:
        if version is None:
            version = self.current(name)
        elif not isinstance(version, str) or not _VERSION.match(version):
            raise InvalidInput(f"version must look like 'v0003' (see versions({name!r})), not {version!r}.")
        folder = self._folder(name) / version
        if not folder.is_dir():
            saved = ", ".join(self.versions(name)) or "none"
            raise self._missing(name, f"there is no version {version} (saved: {saved})")
        return folder

    def metadata(self, name: str, version: Optional[str] = None) -> dict[str, Any]:
        """The metadata of one version (default: the current one)."""
        folder = self._version_folder(name, version)
        result: dict[str, Any] = json.loads((folder / METADATA).read_text(encoding="utf-8"))
        return result

    def load(self, name: str, version: Optional[str] = None) -> Any:
        """The object saved as ``name`` (default: the current version).

        Raises
        ------
        ArtifactNotFound
            If there is no such artifact or version; the message names the
            command that builds it.
        ArtifactOutdated
            If the file was saved by an older layout of the code (a class it
            names has moved); the message names the command that rebuilds it.
        InvalidInput
            If the model file does not match the checksum in its metadata.
        """
        folder = self._version_folder(name, version)
        meta = self.metadata(name, folder.name)
        path = folder / meta["file"]
        if file_sha256(path) != meta["sha256"]:
            raise InvalidInput(
                f"{path} does not match the checksum in its metadata (changed or truncated); "
                f"roll back with rollback({name!r}) or rebuild it."
            )
        try:
            if meta["format"] == "joblib":
                if joblib is None:  # pragma: no cover - joblib comes with scikit-learn
                    raise InvalidInput(f"{path} was saved with joblib, which is not installed; pip install joblib.")
                return joblib.load(path)
            with path.open("rb") as fh:
                return pickle.load(fh)
        except (ImportError, AttributeError) as exc:
            # the pickle names a class by its module path: a module or class moved since it was saved
            raise ArtifactOutdated(name, folder.name, self.root, str(exc), self.build_commands.get(name)) from exc

    # ------------------------------------------------------------------ writing

    def save(self, name: str, obj: object, metadata: Optional[Mapping[str, Any]] = None) -> str:
        """Write ``obj`` as a new version of ``name``, make it current, and return the version.

        ``metadata`` (JSON-serialisable: strings, numbers, lists, dicts) is
        stored with ``created_at`` (UTC), the library versions, the model
        class, its file's SHA-256 and size.

        Raises
        ------
        InvalidInput
            For a bad name or metadata that is not JSON-serialisable. Errors
            while writing the object propagate; the previous version stays
            current either way.
        """
        folder = self._folder(name)
        extra = dict(metadata or {})
        try:
            json.dumps(extra)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"metadata must be JSON-serialisable (strings, numbers, lists, dicts): {exc}; "
                "convert dates and numpy values first."
            ) from None
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
        try:
            file_name = "model.joblib" if joblib is not None else "model.pkl"
            model_path = staging / file_name
            if joblib is not None:
                joblib.dump(obj, model_path)
            else:  # pragma: no cover - joblib comes with scikit-learn
                with model_path.open("wb") as fh:
                    pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
            meta = {
                **extra,
                "name": name,
                "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "model_class": f"{type(obj).__module__}.{type(obj).__qualname__}",
                "format": "joblib" if joblib is not None else "pickle",
                "file": file_name,
                "sha256": file_sha256(model_path),
                "size_bytes": model_path.stat().st_size,
                "libraries": library_versions(),
            }
            version = self._publish(folder, staging, meta)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._point(folder, version)
        if self.keep is not None:
            self.prune(name, self.keep)
        return version

    def _publish(self, folder: Path, staging: Path, meta: dict[str, Any]) -> str:
        """Rename the staging folder to the next free version; a concurrent save takes the one after."""
        existing = self.versions(folder.name)
        number = int(existing[-1][1:]) + 1 if existing else 1
        while True:
            version = f"v{number:04d}"
            meta["version"] = version
            (staging / METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            for path in staging.iterdir():
                with path.open("rb") as fh:
                    os.fsync(fh.fileno())
            try:
                # rename() onto an existing non-empty folder fails, so two writers never share a version.
                os.rename(staging, folder / version)
            except OSError:
                if (folder / version).exists():
                    number += 1
                    continue
                raise
            _fsync_dir(folder)
            return version

    def _point(self, folder: Path, version: str) -> None:
        """Make ``version`` current: write a temporary pointer, then replace the old one in one step."""
        tmp = folder / f".{CURRENT}-{uuid.uuid4().hex}"
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.write(version + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, folder / CURRENT)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(folder)

    def rollback(self, name: str) -> str:
        """Point ``current`` at the version before it and return that version.

        Raises
        ------
        ArtifactNotFound
            If ``name`` was never saved.
        InvalidInput
            If the current version is the oldest one kept.
        """
        current = self.current(name)
        older = [v for v in self.versions(name) if int(v[1:]) < int(current[1:])]
        if not older:
            raise InvalidInput(f"{name} is at {current}, the oldest version kept: there is nothing to roll back to.")
        self._point(self._folder(name), older[-1])
        return older[-1]

    def prune(self, name: str, keep: int) -> list[str]:
        """Delete all but the ``keep`` newest versions (never the current one); return those deleted."""
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise InvalidInput(f"keep must be a whole number of versions >= 1, not {keep!r}.")
        versions = self.versions(name)
        try:
            current: Optional[str] = self.current(name)
        except ArtifactNotFound:
            current = None
        doomed = [v for v in versions[:-keep] if v != current]
        for version in doomed:
            shutil.rmtree(self._folder(name) / version)
        return doomed


__all__ = [
    "BUILD_COMMANDS",
    "LIBRARIES",
    "ArtifactNotFound",
    "ArtifactOutdated",
    "ArtifactStore",
    "data_hash",
    "library_versions",
]
