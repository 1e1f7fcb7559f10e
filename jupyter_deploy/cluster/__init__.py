"""The cluster: what a version becomes in Kubernetes, written as files first and applied second.

``rules`` holds Kubernetes' and KServe's rules for single values (names, quantities, canary share, storage
URIs); ``options`` checks what a manifest may say with them; ``plan`` decides the rollout (``stock`` for
KServe's own runtimes, ``canary`` for traffic splits); ``layout`` is where ``deploy/NAME/`` lives and what its
kustomize base lists; ``rendering`` renders its files and ``manifests`` writes them, all or nothing;
``validate`` checks them (``schemas``: KServe's CRD and Kubernetes' schemas; ``webhook``: what KServe's
admission webhook refuses); ``kube`` is the only module that imports ``kubernetes`` (apply, status,
delete) and ``report`` words its answers; ``gitops`` commits; ``schedule`` and ``batch_job`` write the
retraining CronJob and the batch-prediction Job.
"""
