"""Kubernetes' and KServe's own rules for single values, one rule each for the whole package.

Names (apimachinery/pkg/util/validation), resource quantities (resource.Quantity: ``500m``, ``4Gi``,
``1e3``), the canary share, storage URIs (KServe's storage initializer) and credential-like environment
variable names. Options, schedules, batch jobs, annotations and ``validate`` all check through these.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # namespaces, most object names
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # InferenceService names: start with a letter
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
# the CRD's own quantity pattern (resource.Quantity): 500m, 2, 4Gi, 1e3, 1.5G
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(\d+(\.\d*)?|\.\d+)))?$")
_QUANTITY_PARTS = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(.*)$")
BINARY_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# a canary takes part of the traffic, never none or all of it (0 and 100 are no split): one rule everywhere
CANARY_MIN, CANARY_MAX = 1, 99
BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$")  # S3 and GCS bucket names
BUCKET_SCHEMES = ("s3", "gs")
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$")
# KServe's storage initializer (pkg/constants SupportedStorageURIPrefixList) plus plain local paths
STORAGE_SCHEMES = ("gs", "s3", "pvc", "file", "https", "http", "hdfs", "webhdfs", "oci", "hf")
# env names that hold credentials (by their words: HF_TOKEN yes, TOKENIZERS_PARALLELISM no)
SECRET_WORDS = {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "APIKEY", "CREDENTIAL", "CREDENTIALS", "PASSPHRASE"}
SECRET_PAIRS = {("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY"), ("SECRET", "KEY"), ("AUTH", "KEY")}


# -- names ----------------------------------------------------------------------------------------------
def is_dns_label(value: str) -> bool:
    """A namespace or most object names (Secret, PVC...): at most 63 lower-case letters, digits and '-'."""
    return len(value) <= 63 and bool(DNS1123_LABEL.match(value))


def is_dns_subdomain(value: str) -> bool:
    """Service accounts, claims, label-key prefixes: DNS labels joined by '.', at most 253 characters."""
    return len(value) <= 253 and bool(DNS1123_SUBDOMAIN.match(value))


def is_deployment_name(value: str) -> bool:
    """A deployment's name becomes its InferenceService's: a DNS-1035 label (it starts with a letter)."""
    return len(value) <= 63 and bool(DNS1035_LABEL.match(value))


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(LABEL_VALUE.match(value))


def looks_secret(variable: str) -> bool:
    """Whether an environment variable's name says it holds a credential (its value needs a Secret)."""
    words = [word for word in re.split(r"[_.\-]+", variable.upper()) if word]
    return bool(SECRET_WORDS.intersection(words)) or any(pair in SECRET_PAIRS for pair in itertools.pairwise(words))


# -- numbers --------------------------------------------------------------------------------------------
def quantity_problem(value: str) -> str | None:
    """Why ``value`` is no CPU/memory amount Kubernetes accepts (None when it is one): a quantity, not negative."""
    if not QUANTITY.match(value):
        return f"{value!r} is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)"
    if quantity_value(value) < 0:
        return f"{value!r} is negative: Kubernetes refuses negative resource amounts"
    return None


def quantity_value(value: str) -> Decimal:
    """The number a quantity stands for (``500m`` -> 0.5, ``2Gi`` -> 2147483648); ``value`` must match QUANTITY."""
    match = _QUANTITY_PARTS.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix in BINARY_SUFFIXES:
        return number * BINARY_SUFFIXES[suffix]
    if suffix in DECIMAL_SUFFIXES:
        return number.scaleb(DECIMAL_SUFFIXES[suffix])
    return number * Decimal(10) ** Decimal(suffix[1:])  # e3, E-2: an exponent


def canary_problem(percent: int) -> str | None:
    """Why ``percent`` is no canary share (None when it is one): the one range rule of the package."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not CANARY_MIN <= percent <= CANARY_MAX:
        return (
            f"{percent!r} is not a canary share: give the new version's percent of the traffic, "
            f"{CANARY_MIN} to {CANARY_MAX}"
        )
    return None


# -- storage --------------------------------------------------------------------------------------------
def storage_uri_problem(uri: str) -> str | None:
    """Why KServe's storage initializer would refuse ``uri`` (None when it is fine)."""
    if not uri or any(char.isspace() for char in uri):
        return f"{uri!r} is not a storage URI (empty, or it has spaces)"
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return None if uri.startswith(("/", "./")) else f"{uri!r} has no scheme: use one of " + _schemes()
    if scheme not in STORAGE_SCHEMES:
        return f"storage URI scheme {scheme!r} is not supported by KServe: use one of {_schemes()}"
    host = rest.split("/", 1)[0]
    if "@" in host:
        return f"{uri!r} carries credentials; give them to KServe through a service account and Secret"
    if scheme in BUCKET_SCHEMES and not BUCKET.match(host):
        return f"{uri!r} names no bucket: write {scheme}://BUCKET/PATH"
    if scheme == "pvc" and not is_dns_subdomain(host):
        return f"{uri!r} names no PersistentVolumeClaim: write pvc://CLAIM_NAME/PATH"
    if scheme in ("http", "https") and not HOST.match(host):
        return f"{uri!r} names no host: write {scheme}://HOST/PATH"
    return None


def _schemes() -> str:
    return ", ".join(f"{scheme}://" for scheme in STORAGE_SCHEMES)
