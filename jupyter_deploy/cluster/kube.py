"""The Kubernetes API: server-side apply, status and delete of ``deploy/NAME/base/``.

The only module that imports ``kubernetes``. It speaks to the API server with the Python client's
``ApiClient`` and plain dicts (no generated models), finds each kind's resource path by asking the server
(``/apis/GROUP/VERSION``), and applies with field manager ``jupyter-deploy``. After an apply it compares
what was sent with what came back: a field the server dropped (a typo in a manifest, a field this KServe
does not know) is reported, since API servers prune unknown fields silently. A missing kubeconfig or an
unreachable server raises ``ClusterError`` with one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from ..exceptions import ClusterError, NotFoundError, OptionsError, ValidationError

if TYPE_CHECKING:
    from typing import Unpack

FIELD_MANAGER = "jupyter-deploy"
TIMEOUT = 15  # seconds per request
VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink")


class Cluster:
    """One API server, reached through a kubeconfig (or the in-cluster service account)."""

    def __init__(self, kubeconfig: str | Path | None = None, context: str | None = None) -> None:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        path = Path(kubeconfig).expanduser() if kubeconfig else None
        if path is None:
            candidates = [
                Path(item).expanduser() for item in os.environ.get("KUBECONFIG", "").split(os.pathsep) if item
            ]
            candidates.append(Path("~/.kube/config").expanduser())
            path = next((candidate for candidate in candidates if candidate.is_file()), None)
        self.default_namespace = "default"
        try:
            if path is not None:
                if not path.is_file():
                    raise ClusterError(f"kubeconfig {path} does not exist: pass --kubeconfig PATH or set KUBECONFIG")
                configuration = client.Configuration()
                config.load_kube_config(str(path), context=context, client_configuration=configuration)
                _, active = config.list_kube_config_contexts(str(path))
                if context:
                    contexts, _ = config.list_kube_config_contexts(str(path))
                    active = next((item for item in contexts if item["name"] == context), active)
                self.default_namespace = (active or {}).get("context", {}).get("namespace") or "default"
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                configuration = client.Configuration()
                config.load_incluster_config(client_configuration=configuration)
            else:
                raise ClusterError(
                    "no kubeconfig found: pass --kubeconfig PATH, set KUBECONFIG, or create ~/.kube/config"
                )
        except ConfigException as error:
            raise ClusterError(f"cannot use kubeconfig {path}: {' '.join(str(error).split())}") from None
        configuration.retries = 0
        self.host = configuration.host
        self.api = client.ApiClient(configuration)
        self._resources: dict[tuple[str, str], dict[str, Any]] = {}

    # -- HTTP ----------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        import warnings

        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError, InsecureRequestWarning

        try:
            with warnings.catch_warnings():
                # the kubeconfig asked for insecure-skip-tls-verify: that choice is the user's
                warnings.simplefilter("ignore", InsecureRequestWarning)
                response = self._call(method, path, body, query, content_type)
        except ApiException as error:
            raise _api_error(error, self.host) from None
        except (HTTPError, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise ClusterError(
                f"cannot reach the Kubernetes API server at {self.host}: {' '.join(str(reason).split())}"
            ) from None
        return json.loads(response.data or b"null")

    def _call(self, method: str, path: str, body: Any, query: Any, content_type: str) -> Any:
        return self.api.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=TIMEOUT,
        )

    def resource(self, api_version: str, kind: str) -> dict[str, Any]:
        """``{name, namespaced, path}`` of ``kind`` in ``api_version``, from the server's discovery."""
        key = (api_version, kind)
        if key not in self._resources:
            path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            try:
                listing = self.request("GET", path)
            except NotFoundError:
                listing = {"resources": []}
            found = next(
                (item for item in listing.get("resources", []) if item.get("kind") == kind and "/" not in item["name"]),
                None,
            )
            if found is None:
                hint = " (install KServe's CRDs)" if api_version.startswith("serving.kserve.io/") else ""
                raise ClusterError(f"the cluster at {self.host} does not serve {api_version} {kind}{hint}")
            self._resources[key] = {"name": found["name"], "namespaced": found["namespaced"], "path": path}
        return self._resources[key]

    def object_path(self, document: dict[str, Any], namespace: str | None) -> str:
        resource = self.resource(document["apiVersion"], document["kind"])
        name = document["metadata"]["name"]
        if resource["namespaced"]:
            return f"{resource['path']}/namespaces/{namespace}/{resource['name']}/{name}"
        return f"{resource['path']}/{resource['name']}/{name}"

    def get(self, document: dict[str, Any], namespace: str | None) -> dict[str, Any] | None:
        try:
            result = self.request("GET", self.object_path(document, namespace))
        except NotFoundError:
            return None
        return dict(result)

    # -- operations ----------------------------------------------------------------------------------------
    def apply(self, document: dict[str, Any], namespace: str, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply one object; ``{kind, name, namespace, action, dropped}``."""
        body = json.loads(json.dumps(document))
        if self.resource(body["apiVersion"], body["kind"])["namespaced"]:
            body["metadata"]["namespace"] = namespace
        before = self.get(body, namespace)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        if dry_run:
            query.append(("dryRun", "All"))
        after = self.request(
            "PATCH",
            self.object_path(body, namespace),
            body,
            query,
            content_type="application/apply-patch+yaml",
        )
        if before is None:
            action = "created"
        elif _comparable(before) == _comparable(after):
            action = "unchanged"
        else:
            action = "configured"
        return {
            "kind": body["kind"],
            "name": body["metadata"]["name"],
            "namespace": namespace,
            "action": action + (" (dry run)" if dry_run else ""),
            "dropped": dropped_fields(body, after),
        }

    def delete(self, document: dict[str, Any], namespace: str) -> bool:
        """Delete one object; False when it was not there."""
        try:
            self.request("DELETE", self.object_path(document, namespace), {"propagationPolicy": "Background"})
        except NotFoundError:
            return False
        return True


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(obj))
    for key in VOLATILE_METADATA:
        copy.get("metadata", {}).pop(key, None)
    copy.pop("status", None)
    return dict(copy)


def dropped_fields(sent: Any, returned: Any, path: str = "") -> list[str]:
    """Paths of fields in ``sent`` that are missing from ``returned`` (pruned by the API server)."""
    dropped: list[str] = []
    if isinstance(sent, dict) and isinstance(returned, dict):
        for key, value in sent.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in returned:
                dropped.append(where)
            else:
                dropped += dropped_fields(value, returned[key], where)
    elif isinstance(sent, list) and isinstance(returned, list):
        for index, (item, back) in enumerate(zip(sent, returned, strict=False)):
            dropped += dropped_fields(item, back, f"{path}[{index}]")
    return dropped


def _api_error(error: Any, host: str) -> Exception:
    try:
        detail = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        detail = {}
    message = " ".join(str(detail.get("message") or error.reason or "").split())
    if error.status == 404:
        return NotFoundError(message or "not found")
    if error.status in (401, 403):
        return ClusterError(f"the API server at {host} refused: {message} (check the kubeconfig's credentials)")
    if error.status in (400, 409, 422):
        causes = (detail.get("details") or {}).get("causes") or []
        problems = [("", str(cause.get("field", "")), str(cause.get("message", ""))) for cause in causes]
        return ValidationError(f"the API server rejected it: {message}", problems)
    return ClusterError(f"the API server at {host} answered {error.status}: {message}")


# -- what a deployment consists of -----------------------------------------------------------------------
def deployment_documents(root: str | Path, name: str) -> list[dict[str, Any]]:
    """The objects of ``deploy/NAME/base/``, in the order its ``kustomization.yaml`` lists them."""
    import yaml

    from .layout import KUSTOMIZATION, base_dir

    base = base_dir(root, name)
    kustomization = base / KUSTOMIZATION
    if not kustomization.is_file():
        raise NotFoundError(f"{base} has no manifests: generate them first (jupyter-deploy manifests {name})")
    listed = (yaml.safe_load(kustomization.read_text(encoding="utf-8")) or {}).get("resources") or []
    documents = []
    for item in listed:
        path = base / str(item)
        if not path.is_file():
            raise NotFoundError(f"{path} is listed in {kustomization} but does not exist")
        documents += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return documents


class Where(TypedDict, total=False):
    """Which cluster and namespace a command talks to (``--kubeconfig``, ``--context``, ``--namespace``)."""

    namespace: str | None  # default: the InferenceService's, else the kubeconfig context's
    context: str | None
    kubeconfig: str | Path | None


def _reach(documents: list[dict[str, Any]], where: Where) -> tuple[Cluster, str]:
    """The cluster of ``where`` and the namespace the documents go to."""
    cluster = Cluster(where.get("kubeconfig"), where.get("context"))
    return cluster, _namespace(cluster, documents, where.get("namespace"))


def _namespace(cluster: Cluster, documents: list[dict[str, Any]], namespace: str | None) -> str:
    if namespace:
        return namespace
    found = next(
        (doc.get("metadata", {}).get("namespace") for doc in documents if doc.get("kind") == "InferenceService"),
        None,
    )
    return str(found or cluster.default_namespace)


def apply(
    root: str | Path, name: str, dry_run: bool = False, validate: bool = True, **where: Unpack[Where]
) -> dict[str, Any]:
    """``jupyter-deploy apply NAME``: validate, then server-side apply every object of the base.

    ``validate=False`` sends the files as they are; fields the server drops are still reported.
    """
    from .layout import base_dir
    from .validate import validate_path

    documents = deployment_documents(root, name)
    problems = validate_path(base_dir(root, name)) if validate else []
    if problems:
        raise ValidationError(
            f"deploy/{name} does not validate ({len(problems)} problem(s)); first: {problems[0]}",
            [problem.as_tuple() for problem in problems],
        )
    cluster, target = _reach(documents, where)
    results = [cluster.apply(document, target, dry_run=dry_run) for document in documents]
    dropped = [f"{item['kind']}/{item['name']}: {path}" for item in results for path in item["dropped"]]
    return {"name": name, "namespace": target, "dry_run": dry_run, "objects": results, "dropped": dropped}


def status(root: str | Path, name: str, **where: Unpack[Where]) -> dict[str, Any]:
    """``jupyter-deploy status NAME``: the InferenceService's readiness, conditions and URL."""
    documents = _isvc_documents(root, name)
    cluster, target = _reach(documents, where)
    found = cluster.get(documents[0], target)
    if found is None:
        raise NotFoundError(f"InferenceService {name} does not exist in namespace {target}: apply it first")
    state = found.get("status") or {}
    conditions = [
        {key: condition.get(key) for key in ("type", "status", "reason", "message")}
        for condition in state.get("conditions") or []
    ]
    ready = any(item["type"] == "Ready" and item["status"] == "True" for item in conditions)
    return {
        "name": name,
        "namespace": target,
        "ready": ready,
        "url": state.get("url"),
        "conditions": conditions,
        "version": (found.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/version"),
        "canary": _canary_percent(found.get("spec") or {}),
    }


def _canary_percent(spec: dict[str, Any]) -> int | None:
    """The new version's share: Knative's canaryTrafficPercent, or Standard mode's spec.canary entries."""
    entries = [entry for entry in spec.get("canary") or [] if isinstance(entry, dict)]
    if entries:
        return sum(int(entry.get("trafficPercent") or 0) for entry in entries)
    percent = (spec.get("predictor") or {}).get("canaryTrafficPercent")
    return percent if isinstance(percent, int) else None


def delete(root: str | Path, name: str, **where: Unpack[Where]) -> dict[str, Any]:
    """``jupyter-deploy delete NAME``: delete the objects of the base (last first)."""
    documents = deployment_documents(root, name)
    cluster, target = _reach(documents, where)
    deleted = [
        {"kind": doc["kind"], "name": doc["metadata"]["name"], "deleted": cluster.delete(doc, target)}
        for doc in reversed(documents)
    ]
    if not any(item["deleted"] for item in deleted):
        raise NotFoundError(f"nothing of {name} exists in namespace {target}")
    return {"name": name, "namespace": target, "objects": deleted}


def _isvc_documents(root: str | Path, name: str) -> list[dict[str, Any]]:
    documents = [doc for doc in deployment_documents(root, name) if doc.get("kind") == "InferenceService"]
    if not documents:
        raise OptionsError(f"deploy/{name}/base has no InferenceService")
    return documents
