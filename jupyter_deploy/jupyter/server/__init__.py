"""The Jupyter server extension: ``app`` registers the handlers, grouped by resource as jupyter-server's
services are: ``handlers`` (the base handler, notebooks, versions, export), ``actions`` (manifests, serving,
retraining, cluster) and ``panel`` (what the panel asks the server to decide: tag grammar, roles).
"""
