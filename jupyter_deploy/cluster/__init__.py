"""The cluster: what a version becomes in Kubernetes, written as files first and applied second.

``options`` checks what a manifest may say (one rule per value: names, quantities, canary percent);
``plan`` decides the rollout (``stock`` for KServe's own runtimes, ``canary`` for traffic splits);
``manifests`` renders ``deploy/NAME/`` (InferenceService, Dockerfile, kustomize base and overlays);
``validate`` checks it against KServe's CRD schema and webhook rules; ``kube`` is the only module that
imports ``kubernetes`` (apply, status, delete); ``gitops`` commits; ``schedule`` and ``batch_job`` write
the retraining CronJob and the batch-prediction Job.
"""
