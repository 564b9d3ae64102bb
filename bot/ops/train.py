"""Validate the training data and train a model, with Rasa in its own environment.

Both steps run ``.venv-rasa/bin/rasa`` as a subprocess (Rasa's pins do not
fit this environment) and read its output as it comes, so the CLI can show
progress: validation, the trackers Rasa builds, each component it trains and
the epochs of those that have them. The whole output goes to a log file next
to the model.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Optional

from analytics.core.errors import InvalidInput
from bot.launch import quiet_rasa_env, rasa_executable
from bot.ops.project import Project, read_yaml

#: ``(what, done, total)``: a stage description and, when known, how far it is.
Progress = Callable[[str, Optional[int], Optional[int]], None]

_COMPONENT = re.compile(r"Starting to train component '([^']{1,200})'")
_TQDM = re.compile(
    r"^\s{0,20}([A-Z][\w ]{0,80}?):\s{1,10}(?:\d{1,3}%\|[^|]{0,200}\|\s{0,10})?(\d{1,12})(?:/(\d{1,12}))?"
)
_SAVED = re.compile(r"Your Rasa model is trained and saved at '([^']{1,900})'")


class RasaFailed(InvalidInput):
    """A Rasa command failed; the message ends with the end of its output."""


def _rasa_env() -> dict[str, str]:
    return quiet_rasa_env()


def rasa_command() -> list[str]:
    rasa = rasa_executable()
    if not rasa.exists():
        raise InvalidInput(f"{rasa} is missing; run `make env` to create the Rasa environment.")
    return [str(rasa)]


def rasa_python_command() -> list[str]:
    """The Python of the Rasa environment (next to its ``rasa`` script)."""
    (rasa,) = rasa_command()
    return [str(Path(rasa).parent / "python")]


def run_rasa(
    args: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    on_line: Optional[Callable[[str], None]] = None,
    timeout: float = 3600.0,
    program: Optional[Sequence[str]] = None,
) -> int:
    """Run ``rasa *args`` (or ``program *args``) in the Rasa environment.

    The output goes to ``log``, and each line (``\\r`` or ``\\n`` ended) to ``on_line``.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*(program or rasa_command()), *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_rasa_env(),
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            _pump(proc.stdout, out, on_line)
            return proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            proc.kill()
            proc.wait()
            raise


def _pump(stream: IO[bytes], out: IO[bytes], on_line: Optional[Callable[[str], None]]) -> None:
    pending = b""
    while chunk := stream.read1(65536):  # type: ignore[attr-defined]
        out.write(chunk)
        pending += chunk
        *lines, pending = re.split(rb"[\r\n]", pending)
        if on_line is not None:
            for line in lines:
                if line.strip():
                    on_line(line.decode("utf-8", "replace"))
    if on_line is not None and pending.strip():
        on_line(pending.decode("utf-8", "replace"))


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").replace("\r", "\n")
    except OSError:
        return "(no log)"
    kept = [line for line in text.splitlines() if line.strip() and "Warning" not in line]
    return "\n".join(kept[-lines:])


def validate_data(project: Project, *, config: Optional[Path] = None, log: Path) -> None:
    """``rasa data validate``: the domain, the training data and the config agree.

    Raises
    ------
    RasaFailed
        With the end of Rasa's report.
    """
    code = run_rasa(
        ["data", "validate", "--domain", str(project.domain), "--data", str(project.data), "--config",
         str(config or project.config)],
        cwd=project.root,
        log=log,
    )  # fmt: skip
    if code != 0:
        raise RasaFailed(f"`rasa data validate` found problems (log: {log}):\n{tail(log)}")


@dataclass(frozen=True)
class TrainedModel:
    name: str
    path: Path
    data_hash: str
    config: Path
    log: Path
    seconds: float


def components_in(config: Path) -> int:
    data = read_yaml(config)
    return len(data.get("pipeline") or []) + len(data.get("policies") or [])


def model_name(now: Optional[datetime] = None) -> str:
    """``nlu-20261124-070512``: sortable, one per second."""
    now = now or datetime.now(timezone.utc)
    return f"nlu-{now:%Y%m%d-%H%M%S}"


def train_model(
    project: Project,
    *,
    config: Optional[Path] = None,
    name: Optional[str] = None,
    progress: Optional[Progress] = None,
    validate: bool = True,
) -> TrainedModel:
    """Validate the data, then train a model into ``models/nlu/<name>.tar.gz``.

    Parameters
    ----------
    project : Project
        Whose config, domain and data to train on.
    config : Path, optional
        Another pipeline (e.g. a reduced one for tests); default the project's.
    name : str, optional
        The model's name; default :func:`model_name`.
    progress : callable, optional
        Called with ``(stage, done, total)`` as Rasa reports it.

    Returns
    -------
    TrainedModel
        The model file, the hash of the data it was trained from and the log.
    """
    config = (config or project.config).resolve()
    name = name or model_name()
    if not re.fullmatch(r"[\w.-]+", name):
        raise InvalidInput(f"model name {name!r}: use letters, digits, '.', '-' and '_' only.")
    target = project.models / f"{name}.tar.gz"
    if target.exists():
        raise InvalidInput(f"{target} already exists; choose another --name.")
    logs = project.models / name
    report = progress or (lambda *_: None)
    started = time.perf_counter()
    data_hash = project.data_hash(config)
    if validate:
        report("validating the training data", None, None)
        validate_data(project, config=config, log=logs / "validate.log")

    total = components_in(config)
    trained = 0

    def on_line(line: str) -> None:
        nonlocal trained
        if found := _COMPONENT.search(line):
            trained += 1
            report(f"training {found.group(1)}", min(trained, total), total)
        elif "validating" in line and "Started" in line:
            report("checking the training data", None, None)
        elif found := _TQDM.match(line):
            what, done, of = found.group(1), int(found.group(2)), found.group(3)
            report(what.lower(), done, int(of) if of else None)

    code = run_rasa(
        ["train", "--config", str(config), "--domain", str(project.domain), "--data", str(project.data),
         "--out", str(project.models), "--fixed-model-name", name],
        cwd=project.root,
        log=logs / "train.log",
        on_line=on_line,
    )  # fmt: skip
    if code != 0 or not target.exists():
        raise RasaFailed(f"`rasa train` failed (log: {logs / 'train.log'}):\n{tail(logs / 'train.log')}")
    return TrainedModel(name, target, data_hash, config, logs / "train.log", round(time.perf_counter() - started, 1))
