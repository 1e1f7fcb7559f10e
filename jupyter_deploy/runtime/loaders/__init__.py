"""Loading captured artifacts at serve time, one module per kind; the file name's suffix picks the loader.

The writing side is ``jupyter_deploy.capture``. Options a loader needs (skops' trusted types, a class to
rebuild a module from) come from the generated ``predictor.py``, never from the artifact.
"""
