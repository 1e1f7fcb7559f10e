"""The notebook: the first stage of the data path, before anything runs.

``read`` turns an ``.ipynb`` file, a live kernel's history or cells sent by the panel into ordered cells;
``annotations`` finds the ``%%deploy`` magics and ``deploy:ROLE[:NAME]`` tags (the one grammar every front
door and the panel use) and groups them into deployments; ``closure`` follows names backwards from the
predict cell to the imports, definitions and values it needs. Nothing here executes code or imports
anything heavy.
"""
