"""papermill's nbclient engine as retraining runs it: the cell being run reported (progress bar, side panel),
the kernel started with the run's own environment and working directory, and the output notebook saved at
most every few seconds instead of twice per cell.

Engine keywords (passed through ``papermill.execute_notebook``): ``CELL_CALLBACK`` is called with
'cell N: first line' as each cell starts; ``KERNEL_START`` holds the kernel's ``env`` and ``cwd``. A run that
ends in an exception (Ctrl-C, SIGTERM) kills its kernel and waits for it before the exception goes on, so
nothing the kernel prints comes after retrain's own last line.
"""

from __future__ import annotations

import time
from typing import Any

ENGINE = "jupyter-deploy"
CELL_CALLBACK = "jd_on_cell"  # engine keyword: called with 'cell N: first line' as each cell starts
KERNEL_START = "jd_kernel_start"  # engine keyword: the kernel's own env and cwd (never this process's)
SAVE_EVERY_SECONDS = 5.0


def progress_engine() -> str:
    """Register the engine with papermill; returns its name (``engine_name=``)."""
    from papermill.engines import NBClientEngine, papermill_engines

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            from papermill.clientwrap import PapermillNotebookClient
            from papermill.engines import logger
            from papermill.utils import merge_kwargs, remove_args

            start = nb_man.cell_start
            on_cell = kwargs.pop(CELL_CALLBACK, None)
            kernel_start = kwargs.pop(KERNEL_START, {})

            def cell_start(cell: Any, cell_index: int | None = None, **more: Any) -> None:
                start(cell, cell_index, **more)
                if cell_index is None:
                    return
                first = next((line for line in cell.source.splitlines() if line.strip()), "")
                if nb_man.pbar is not None:
                    nb_man.pbar.set_description(f"cell {cell_index + 1}: {first[:40]}")
                if on_cell is not None:
                    on_cell(f"cell {cell_index + 1}: {first[:80]}")

            nb_man.cell_start = cell_start
            _throttle_saves(nb_man)
            # NBClientEngine's own body, plus the kernel's env and cwd, which only execute() passes on to
            # the kernel manager (papermill has no keyword for them)
            timeout = kwargs.pop("execution_timeout", None) or kwargs.get("timeout")
            options = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            options = merge_kwargs(
                options,
                timeout=timeout,
                startup_timeout=options.pop("start_timeout", 60),
                kernel_name=kernel_name,
                log=logger,
                log_output=options.pop("log_output", False),
                stdout_file=options.pop("stdout_file", None),
                stderr_file=options.pop("stderr_file", None),
            )
            client = PapermillNotebookClient(nb_man, **options)
            try:
                return client.execute(**kernel_start)
            except BaseException:
                # Ctrl-C or SIGTERM can land while nbclient starts the kernel, before its own clean-up is armed:
                # the kernel would outlive this process and print its warnings after retrain's last line
                _stop_kernel(client)
                raise

    papermill_engines.register(ENGINE, ProgressEngine)
    return ENGINE


def _stop_kernel(client: Any) -> None:
    """Kill the kernel ``client`` started, with its process group (what it started), and wait for it to end."""
    import os
    import signal
    import subprocess

    process = getattr(getattr(getattr(client, "km", None), "provisioner", None), "process", None)
    if not isinstance(process, subprocess.Popen) or process.poll() is not None:
        return
    try:
        if os.getpgid(process.pid) == process.pid:  # its own session, as jupyter_client starts kernels
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):  # already gone, or a zombie the OS will reap
        pass


def _throttle_saves(nb_man: Any) -> None:
    """papermill writes the whole output notebook twice per cell; write at most every few seconds instead,
    and always when a cell raises and when the run ends (papermill's ``finally``), so nothing is lost."""
    save = nb_man.save
    state = {"last": time.monotonic(), "force": False}

    def throttled(**kwargs: Any) -> None:
        now = time.monotonic()
        if state["force"] or now - state["last"] >= SAVE_EVERY_SECONDS:
            state["last"] = now
            save(**kwargs)

    def forcing(hook: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            state["force"] = True
            try:
                return hook(*args, **kwargs)
            finally:
                state["force"] = False

        return run

    nb_man.save = throttled
    nb_man.cell_exception = forcing(nb_man.cell_exception)
    nb_man.notebook_complete = forcing(nb_man.notebook_complete)
