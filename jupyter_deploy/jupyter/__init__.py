"""Jupyter's front doors: thin layers over the stages, never rules of their own.

``magics`` (``%%deploy`` and ``%deploy``) and ``kernel_commands`` / ``kernel_serve`` run in the user's
kernel; ``widgets`` draws version cards; ``exporter`` is the nbconvert exporter; ``server/`` is the Jupyter
server extension whose REST handlers the side panel calls.
"""
