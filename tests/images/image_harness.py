"""Build a generated ``deploy/NAME/Dockerfile`` with buildah and start the image's own entry point.

buildah runs with chroot isolation (``podman run`` cannot set rlimits on these machines), builds FROM the
stand-in base that ``build-base.sh`` makes (``--pull=never``: no registry is reachable), and keeps its layers
(``--layers``), so that a rebuild of the same requirements reuses the installed packages. pip inside the build
looks where the host's pip looks: its index, extra indexes and find-links are read from ``pip config list`` and
the environment when the test runs, passed as the Dockerfile's build arguments, and their local directories
mounted read-only into the build at the same paths.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BASE_SCRIPT = HERE / "build-base.sh"
BUILDAH = shutil.which("buildah")
ENV = {**os.environ, "BUILDAH_ISOLATION": "chroot"}


class BuildFailed(AssertionError):
    """An image build that failed: the Dockerfile step it failed in and the last lines buildah printed."""

    def __init__(self, step: str, tail: str) -> None:
        super().__init__(f"the image build failed at {step}\n{tail}")
        self.step = step
        self.tail = tail


def failed_step(output: str, lines: int = 25) -> BuildFailed:
    """The last ``STEP n/m: ...`` line of buildah's output (the one that failed) and the output's last lines."""
    steps = re.findall(r"^STEP \d+/\d+: .*$", output, flags=re.MULTILINE)
    tail = "\n".join(output.rstrip().splitlines()[-lines:])
    return BuildFailed(steps[-1] if steps else "(before the first step)", tail)


def base_image() -> str:
    """The stand-in base's name; builds it on first use (cached afterwards, see build-base.sh)."""
    made = subprocess.run(["bash", str(BASE_SCRIPT)], capture_output=True, text=True, timeout=1200, env=ENV)
    assert made.returncode == 0, made.stderr[-3000:]
    return made.stdout.strip().splitlines()[-1]


@dataclass
class PipSources:
    """Where the host's pip finds packages, as the Dockerfile's build arguments and the mounts they need."""

    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)

    def build_args(self) -> list[str]:
        args = {
            "PIP_INDEX_URL": self.index_url,
            "PIP_EXTRA_INDEX_URL": " ".join(self.extra_index_urls),
            "PIP_FIND_LINKS": " ".join(self.find_links),
        }
        return [f"--build-arg={key}={value}" for key, value in args.items() if value]

    def mounts(self) -> list[str]:
        """Read-only mounts of the local directories (a file:// index's parent: its pages link to ../files)."""
        directories = set()
        for place in [self.index_url or "", *self.extra_index_urls, *self.find_links]:
            path = Path(place.removeprefix("file://")) if place.startswith(("file://", "/")) else None
            if path is not None and path.exists():
                directories.add(path.parent if place.startswith("file://") else path)
        return [f"--volume={directory}:{directory}:ro" for directory in sorted(directories)]


def host_pip_sources() -> PipSources:
    """The host pip's index-url, extra-index-url and find-links (environment over configuration files)."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    files: dict[str, str] = {}
    environment: dict[str, str] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        option = key.rsplit(".", 1)[-1]
        if option in ("index-url", "extra-index-url", "find-links"):
            (environment if key.startswith(":env:") else files)[option] = value.strip().strip("'\"")
    found = {**files, **environment}  # PIP_* variables win over configuration files, as in pip
    return PipSources(
        index_url=found.get("index-url"),
        extra_index_urls=found.get("extra-index-url", "").split(),
        find_links=found.get("find-links", "").split(),
    )


def build(project: Path, name: str, tag: str, base: str, sources: PipSources, log: Path) -> float:
    """``buildah bud`` of ``deploy/NAME/Dockerfile`` from the project root; returns the seconds it took.

    Raises ``BuildFailed`` naming the step that failed."""
    assert BUILDAH, "buildah is installed by build-base.sh (make test runs it)"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    command = [
        BUILDAH, "bud", "--isolation=chroot", "--pull=never", "--layers", "--force-rm", "--quiet=false",
        f"--file=deploy/{name}/Dockerfile", f"--ignorefile=deploy/{name}/Dockerfile.dockerignore",
        f"--build-arg=BASE_IMAGE={base}", f"--build-arg=PYTHON_VERSION={python}",
        *sources.build_args(), *sources.mounts(), f"--tag={tag}", ".",
    ]  # fmt: skip
    started = time.monotonic()
    steps: list[tuple[float, str]] = []  # when each STEP line came: where a slow build spends its time
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=ENV
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if line.startswith(("STEP ", "COMMIT ")):
                steps.append((time.monotonic() - started, line.strip()))
        returncode = process.wait()
    seconds = time.monotonic() - started
    timeline = [
        f"{end - start:7.1f} s  {step[:150]}"
        for (start, step), (end, _) in zip(steps, [*steps[1:], (seconds, "")], strict=True)
    ]
    log.with_name(f"{log.stem}.steps.txt").write_text("\n".join(timeline) + "\n", encoding="utf-8")
    if returncode != 0:
        raise failed_step(log.read_text(encoding="utf-8", errors="replace"))
    return seconds


def image_inspect(tag: str) -> dict[str, Any]:
    assert BUILDAH
    shown = subprocess.run(
        [BUILDAH, "inspect", "--type", "image", tag], capture_output=True, text=True, timeout=60, check=True
    )
    return dict(json.loads(shown.stdout))


def image_config(tag: str) -> dict[str, Any]:
    """The OCI config of ``tag``: Entrypoint, Cmd, User, WorkingDir."""
    return dict(image_inspect(tag)["OCIv1"]["config"])


def image_size(tag: str) -> int:
    """Bytes of the image's layers, uncompressed (the diff sizes containers-storage records for its layers)."""
    assert BUILDAH
    diff_ids = image_inspect(tag)["OCIv1"]["rootfs"]["diff_ids"]
    root = subprocess.run(
        [BUILDAH, "info", "--format", "{{.store.GraphRoot}}"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    driver = subprocess.run(
        [BUILDAH, "info", "--format", "{{.store.GraphDriverName}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    layers = json.loads((Path(root) / f"{driver}-layers" / "layers.json").read_text(encoding="utf-8"))
    sizes = {layer["diff-digest"]: int(layer["diff-size"]) for layer in layers if "diff-digest" in layer}
    return sum(sizes[diff_id] for diff_id in diff_ids)


@contextmanager
def container(tag: str) -> Iterator[str]:
    """A working container of ``tag`` (removed afterwards)."""
    assert BUILDAH
    made = subprocess.run(
        [BUILDAH, "from", "--pull=never", tag], capture_output=True, text=True, timeout=120, check=True, env=ENV
    )
    name = made.stdout.strip().splitlines()[-1]
    try:
        yield name
    finally:
        subprocess.run([BUILDAH, "rm", name], capture_output=True, timeout=120, check=False)


def run_in(name: str, user: str, *command: str) -> subprocess.CompletedProcess[str]:
    """``buildah run`` a short command in container ``name`` as ``user``."""
    assert BUILDAH
    return subprocess.run(
        [BUILDAH, "run", "--isolation=chroot", f"--user={user}", name, "--", *command],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
    )


def entry_point(config: dict[str, Any], port: int) -> list[str]:
    """The image's own ENTRYPOINT + CMD, on ``port`` and the host's loopback instead of 8080 on every address."""
    command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    replaced = {"--http_port": str(port), "--host": "127.0.0.1"}
    return [replaced.get(command[i - 1], word) if i else word for i, word in enumerate(command)]


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    ready_seconds: float


@contextmanager
def serve(
    name: str, config: dict[str, Any], port: int, model: str, log: Path, timeout: float = 300
) -> Iterator[Served]:
    """The image's entry point in container ``name``, as the image's USER, until ``/v2/models/MODEL/ready``."""
    assert BUILDAH
    command = [BUILDAH, "run", "--isolation=chroot", f"--user={config.get('User') or 'root'}", name, "--"]
    out = log.open("wb")
    started = time.monotonic()
    process = subprocess.Popen(
        [*command, *entry_point(config, port)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=ENV
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            assert process.poll() is None, "the image's entry point exited:\n" + log.read_text(errors="replace")[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/v2/models/{model}/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() - started < timeout, f"not ready in {timeout:.0f} s:\n" + log.read_text()[-3000:]
            time.sleep(0.2)
        yield Served(url, process, time.monotonic() - started)
    finally:
        stop(process)
        out.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to ``buildah run`` and the server under it (their own session), SIGKILL after 30 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def serving_uids(process: subprocess.Popen[bytes]) -> set[int]:
    """The real uids of the Python processes under ``buildah run`` (the server), read from /proc."""
    import psutil

    children = psutil.Process(process.pid).children(recursive=True)
    return {child.uids().real for child in children if "predictor.py" in " ".join(child.cmdline())}
