"""``ArtifactRefused``: a loader will not load a file (it would run code, or holds what the predictor does not
trust), said in one line.

It is a ``SystemExit``: a predictor run as a script (the image, the batch Job) stops with that one line
(``jupyter-deploy: error: ...``) and no traceback. When the tool started the predictor (``serve``,
``%deploy serve``, the side panel), the line goes to the file ``$JD_FAILURE_FILE`` names instead and the
process exits 1 silently: the tool reports it as its own one ``error:`` line. ``predict`` loads in its own
process and prints ``reason``.
"""

from __future__ import annotations

import os

PREFIX = "jupyter-deploy: error: "
FAILURE_FILE = "JD_FAILURE_FILE"


class ArtifactRefused(SystemExit):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        target = os.environ.get(FAILURE_FILE)
        if target:
            try:
                with open(target, "w", encoding="utf-8") as stream:
                    stream.write(reason)
            except OSError:
                target = None
        super().__init__(1 if target else PREFIX + reason)


def refusal_reason(stop: SystemExit) -> str:
    """The one line a ``SystemExit`` raised while loading says, without the program's name: an
    ``ArtifactRefused`` of any runtime copy (a version's own ``_jd_runtime``), or an older version's plain
    ``SystemExit("jupyter-deploy: ...")``."""
    reason = getattr(stop, "reason", None)
    if isinstance(reason, str):
        return reason
    if stop.code is None or isinstance(stop.code, int):
        return f"loading stopped with exit code {stop.code or 0} (sys.exit in the load cell?)"
    text = str(stop.code).strip()
    for prefix in ("jupyter-deploy:", "error:"):
        if text.startswith(prefix):
            text = text[len(prefix) :].strip()
    return text.splitlines()[0] if text else "loading stopped"
