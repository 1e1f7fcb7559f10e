"""The Jupyter server extension, grouped by resource as jupyter-server's services are: each handler declares
its own route and ``app`` collects them (nothing imports ``app``). ``handlers`` holds the base handler
(authentication, paths, bodies, errors) and the notebook, version and export routes; ``actions`` the
manifests, serving, retraining and cluster routes; ``panel`` and ``outcomes`` answer what the side panel asks
the server to decide (tags, declared parameters, what an action's answer means and how to word it).
"""
