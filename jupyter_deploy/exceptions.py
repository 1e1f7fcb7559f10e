"""Every error jupyter-deploy raises on purpose.

One root, ``JupyterDeployError``; each subclass carries structured fields and names the HTTP status the
server extension answers with. The CLI prints ``str(error)`` and exits 1 (no traceback); the magics
raise ``UsageError`` with the same text.
"""

from __future__ import annotations


class JupyterDeployError(Exception):
    """Root of all jupyter-deploy errors. HTTP 500 unless a subclass says otherwise."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotebookError(JupyterDeployError):
    """The notebook cannot be read or is not a Python notebook. HTTP 400."""

    status = 400

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class AnnotationError(JupyterDeployError):
    """A ``%%deploy`` line or ``deploy:`` tag is wrong (unknown role, bad name, duplicate). HTTP 400."""

    status = 400

    def __init__(self, message: str, cell: str | None = None) -> None:
        super().__init__(f"{cell}: {message}" if cell else message)
        self.cell = cell


class ClosureError(JupyterDeployError):
    """The predictor's code cannot be assembled: a name defined nowhere, a syntax error. HTTP 400."""

    status = 400

    def __init__(self, message: str, name: str | None = None, cell: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.cell = cell


class CaptureError(JupyterDeployError):
    """A live object cannot be saved safely (without pickle). HTTP 400."""

    status = 400

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


class ParityError(JupyterDeployError):
    """The exported module does not reproduce the notebook's result on ``example_input``. HTTP 422."""

    status = 422


class NotFoundError(JupyterDeployError):
    """A deployment, version or file does not exist. HTTP 404."""

    status = 404


class OptionsError(JupyterDeployError):
    """A deployment option is invalid (GPU count, replicas, canary, secret literal...). HTTP 400."""

    status = 400

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class ValidationError(JupyterDeployError):
    """Generated manifests do not validate; ``problems`` lists ``(file, path, message)``. HTTP 400."""

    status = 400

    def __init__(self, message: str, problems: list[tuple[str, str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ServeError(JupyterDeployError):
    """The local model server cannot start (port in use, module fails to load). HTTP 409."""

    status = 409


class VersionIntegrityError(JupyterDeployError):
    """A version's files differ from what export recorded in its ``version.json`` (``file``: the first one that
    does, None when it cannot be named). HTTP 409."""

    status = 409

    def __init__(self, message: str, file: str | None = None) -> None:
        super().__init__(message)
        self.file = file


class ClusterError(JupyterDeployError):
    """No kubeconfig, or the Kubernetes API server is unreachable or refuses. HTTP 503."""

    status = 503


class RetrainError(JupyterDeployError):
    """A retraining run failed; ``notebook`` is the executed notebook kept for debugging. HTTP 500."""

    status = 500

    def __init__(self, message: str, notebook: str | None = None, run_id: str | None = None) -> None:
        super().__init__(message)
        self.notebook = notebook
        self.run_id = run_id


class ParameterError(JupyterDeployError):
    """A retraining parameter is unknown or of the wrong type. HTTP 400."""

    status = 400


class BatchError(JupyterDeployError):
    """Batch prediction cannot run: an unreadable input, missing or extra columns, an existing output. HTTP 400."""

    status = 400

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class MonitorError(JupyterDeployError):
    """Payload logs or a reference profile cannot be used (none, unreadable, another deployment's). HTTP 400."""

    status = 400
