"""Local serving: a version on KServe's own model server, in a child process bound to 127.0.0.1.

``local`` starts, waits for and stops those processes and keeps the one registry of running servers that
the CLI, the kernel magics and the server extension share. What runs inside the child is the version's own
copy of ``jupyter_deploy.runtime`` (``_jd_runtime``), which imports nothing from this package.
"""
