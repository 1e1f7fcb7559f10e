"""Kubernetes' and KServe's own rules for single values, one rule each for the whole package.

Names (apimachinery/pkg/util/validation), resource quantities (resource.Quantity: ``500m``, ``4Gi``,
``1e3``), the canary share, durations (``90s``, ``10m``, ``1h30m``), URIs (one rule for every option that takes
one: KServe's storage initializer, the batch job's input and output, the payload logger; never a credential),
image references (distribution/reference) and credential-like environment variable names. Options, schedules,
batch jobs, annotations and ``validate`` all check through these. Patterns are matched whole (``fullmatch``:
``$`` alone lets a trailing newline in).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import unquote, unquote_plus

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
    return len(value) <= 63 and bool(DNS1123_LABEL.fullmatch(value))


def is_dns_subdomain(value: str) -> bool:
    """Service accounts, claims, label-key prefixes: DNS labels joined by '.', at most 253 characters."""
    return len(value) <= 253 and bool(DNS1123_SUBDOMAIN.fullmatch(value))


def is_deployment_name(value: str) -> bool:
    """A deployment's name becomes its InferenceService's: a DNS-1035 label (it starts with a letter)."""
    return len(value) <= 63 and bool(DNS1035_LABEL.fullmatch(value))


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(LABEL_VALUE.fullmatch(value))


def looks_secret(variable: str) -> bool:
    """Whether an environment variable's name says it holds a credential (its value needs a Secret)."""
    words = [word for word in re.split(r"[_.\-]+", variable.upper()) if word]
    return bool(SECRET_WORDS.intersection(words)) or any(pair in SECRET_PAIRS for pair in itertools.pairwise(words))


# -- numbers --------------------------------------------------------------------------------------------
def quantity_problem(value: str) -> str | None:
    """Why ``value`` is no CPU/memory amount Kubernetes accepts (None when it is one): a quantity, not negative."""
    if not QUANTITY.fullmatch(value):
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


# -- durations --------------------------------------------------------------------------------------------
# hours, minutes and seconds in that order, whole numbers (Go's time.ParseDuration spelling: 90s, 10m, 1h30m)
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
DURATION_MAX_S = 24 * 3600  # a start-up budget of more than a day is a typo, not a model


def duration_seconds(text: str) -> int:
    """``10m`` -> 600; ``ValueError`` saying what to write when ``text`` is no positive duration up to a day."""
    match = DURATION.fullmatch(text) if isinstance(text, str) and len(text) <= 32 else None
    if not text or match is None:
        shown = text if len(str(text)) <= 32 else f"{str(text)[:32]}..."
        raise ValueError(f"{shown!r} is not a duration: write a number with a unit, e.g. 90s, 10m, 1h or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not 0 < total <= DURATION_MAX_S:
        raise ValueError(f"{text!r} is {'no time at all' if total == 0 else 'more than a day'}: give 1s to 24h")
    return total


def duration_problem(text: str) -> str | None:
    """Why ``text`` is no duration (None when it is one)."""
    try:
        duration_seconds(text)
    except ValueError as error:
        return str(error)
    return None


# -- storage and URLs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UriKind:
    """What one option may point at. ``what`` completes "'x' is not ...", ``forms`` says what to write instead,
    ``credentials`` where credentials go instead of the URI (a manifest is committed and readable)."""

    what: str
    schemes: tuple[str, ...]
    paths: tuple[str, ...]  # prefixes of plain paths taken without a scheme ("/", "./"); () for none
    forms: str
    credentials: str


KSERVE_STORAGE = UriKind(
    "a storage URI KServe can read",
    STORAGE_SCHEMES,
    ("/", "./"),
    "s3://BUCKET/PATH, gs://BUCKET/PATH, pvc://CLAIM/PATH, https://HOST/FILE, hf://ORG/MODEL",
    "keep them in a Secret and give KServe a ServiceAccount that lists it (--service-account NAME)",
)
# the batch job mounts pvc:// claims and opens the rest with pyarrow.fs (runtime/batch.py)
BATCH_STORAGE = UriKind(
    "a location the batch job reads or writes",
    ("pvc", "s3", "gs", "gcs", "hdfs", "file"),
    ("/",),
    "pvc://CLAIM/PATH, s3://BUCKET/PATH, gs://BUCKET/PATH, hdfs://HOST/PATH or an absolute path in the image",
    "keep them in a Secret and pass them as environment variables "
    "(--env-secret AWS_SECRET_ACCESS_KEY=SECRET/KEY), or use --service-account NAME",
)
PAYLOAD_LOGGER = UriKind(
    "a URL KServe's payload logger can post to",
    ("http", "https"),
    (),
    "http(s)://HOST[:PORT][/PATH] (e.g. http://broker-ingress.knative-eventing.svc.cluster.local/NAMESPACE/default)",
    "the logger sends none: post to a broker inside the cluster and keep credentials in a Secret",
)
HF_ORG = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
# scheme -> (is the authority right, what it names, its placeholder, may it be empty)
_AUTHORITIES: dict[str, tuple[Callable[[str], object], str, str, bool]] = {
    **dict.fromkeys(("s3", "gs", "gcs"), (BUCKET.fullmatch, "bucket", "BUCKET", False)),
    "pvc": (is_dns_subdomain, "PersistentVolumeClaim", "CLAIM", False),
    **dict.fromkeys(("http", "https", "oci"), (HOST.fullmatch, "host", "HOST", False)),
    **dict.fromkeys(("hdfs", "webhdfs"), (HOST.fullmatch, "namenode", "HOST", True)),
    "hf": (HF_ORG.fullmatch, "Hugging Face organisation", "ORG", False),
    "file": ("localhost".__eq__, "host", "", True),
}
# query keys that carry a credential beyond looks_secret's words: presigned S3/GCS URLs, Azure SAS, API keys
_QUERY_SECRET_WORDS = {"SIG", "SIGNATURE", "KEY", "AUTH", "AUTHORIZATION", "PWD", "PASS", "SAS"}
_SHOWN_MAX = 120


def uri_problem(uri: str, kind: UriKind) -> str | None:
    """Why an option of ``kind`` must not take ``uri`` (None when it may): the one URI rule of the package.

    Refused: credentials (``user:password@``, a presigned or SAS query), whitespace and control characters,
    ``..`` segments, an empty or malformed bucket, claim or host, and schemes the option does not read.
    The message shows the URI with its credentials masked, shortened when long.
    """
    shown = _shown(uri)
    if not uri:
        return f"is empty: give {kind.forms}"
    if any(char.isspace() or unicodedata.category(char).startswith("C") for char in uri):
        return f"{shown!r} has a space, newline or control character: give the URI alone (a space is %20)"
    scheme, separator, rest = uri.partition("://")
    if not separator:
        if not (kind.paths and uri.startswith(kind.paths)):
            return f"{shown!r} is not {kind.what}: give {kind.forms}"
        return _parent_problem(shown, uri)
    found = _credentials(uri)
    if found:
        return f"{shown!r} carries credentials {found}: a manifest is committed and readable; {kind.credentials}"
    hierarchy = rest.partition("?")[0]
    if scheme not in kind.schemes:
        return f"{shown!r} is not {kind.what}: {scheme}:// is not supported; give {kind.forms}"
    authority = re.split(r"[/#]", hierarchy, maxsplit=1)[0]
    valid, noun, placeholder, optional = _AUTHORITIES.get(scheme, (HOST.fullmatch, "host", "HOST", True))
    if not authority and not optional:
        return f"{shown!r} names no {noun}: write {scheme}://{placeholder}/PATH"
    if authority and not valid(authority):
        return f"{shown!r}: {authority!r} is not a {noun} name: write {scheme}://{placeholder}/PATH"
    return _parent_problem(shown, hierarchy[len(authority) :].partition("#")[0])


def credential_problem(text: str) -> str | None:
    """Why a URI found anywhere in a manifest must not be there (None when it carries no credential)."""
    found = _credentials(text)
    if found is None:
        return None
    return (
        f"{_shown(text)!r} carries credentials {found}: keep them in a Secret and refer to it "
        "(secretKeyRef, a ServiceAccount), never in a manifest"
    )


def storage_uri_problem(uri: str) -> str | None:
    """Why KServe's storage initializer must not read ``uri`` (None when it may)."""
    return uri_problem(uri, KSERVE_STORAGE)


def redact_uri(uri: str) -> str:
    """``uri`` with its userinfo and the values of credential query keys masked (``s3://***@bucket/x``)."""
    scheme, separator, rest = uri.partition("://")
    if not separator:
        return uri
    hierarchy, question, query = rest.partition("?")
    end = _userinfo_end(hierarchy)
    if end is not None:
        hierarchy = "***" + hierarchy[end:]
    if question:
        parts = [part.partition("=") for part in query.split("&")]
        query = "&".join(
            key + equals + ("***" if equals and _secret_key(key) else value) for key, equals, value in parts
        )
    return f"{scheme}://{hierarchy}{question}{query}"


def _shown(uri: str) -> str:
    shown = redact_uri(uri)
    return shown if len(shown) <= _SHOWN_MAX else f"{shown[: _SHOWN_MAX - 20]}...({len(shown)} characters)"


def _userinfo_end(hierarchy: str) -> int | None:
    """Where the ``@`` that ends a userinfo is, or None. An AWS secret key may hold '/', which ends the
    authority early: ``KEY:SE/CRET@bucket`` leaves ``KEY:SE`` with a port that is no number, then an ``@``."""
    authority = re.split(r"[/#]", hierarchy, maxsplit=1)[0]
    if "@" in authority:
        return authority.rfind("@")
    _, colon, port = authority.rpartition(":")
    if colon and not port.isdigit() and "@" in hierarchy:
        return hierarchy.rfind("@")
    return None


def _credentials(uri: str) -> str | None:
    """How ``uri`` carries a credential: "(user:password@)", "in its query (sig)"; None when it does not."""
    _, separator, rest = uri.partition("://")
    if not separator:
        return None
    hierarchy, _, query = rest.partition("?")
    if _userinfo_end(hierarchy) is not None:
        return "(user:password@)"
    secrets = _query_secrets(query)
    if secrets:
        return f"in its query ({', '.join(secrets)}: a presigned or SAS URL is a secret, and it expires)"
    return None


def _secret_key(key: str) -> bool:
    words = {word for word in re.split(r"[_.\-]+", unquote_plus(key).upper()) if word}
    return looks_secret(unquote_plus(key)) or bool(words & _QUERY_SECRET_WORDS)


def _query_secrets(query: str) -> list[str]:
    return [key for key, _, _ in (part.partition("=") for part in query.split("&") if part) if _secret_key(key)]


def _parent_problem(shown: str, path: str) -> str | None:
    """``..`` climbs out of a claim, a bucket prefix or a directory: refused, percent-encoded or not."""
    if any(unquote(segment) == ".." for segment in path.split("/")):
        return f"{shown!r} has a '..' path segment: write the path without it"
    return None


# -- images ---------------------------------------------------------------------------------------------
# distribution/reference's grammar, the image names of the OCI distribution spec, as kubelet parses them
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_NAME = re.compile(rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*")
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
IMAGE_NAME_MAX = 255  # distribution/reference NameTotalLengthMax: registry host, port and repository
IMAGE_DIGESTS = {"sha256": 64, "sha384": 96, "sha512": 128}  # what go-digest (and so kubelet) accepts
_IMAGE_FORM = "write [REGISTRY[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST] (e.g. registry.example.com/team/churn:v3)"


def image_problem(reference: str) -> str | None:
    """Why ``reference`` is no image reference a registry and kubelet accept (None when it is one)."""
    name, at, digest = reference.partition("@")
    tag: str | None = None
    if name.rfind(":") > name.rfind("/"):
        name, _, tag = name.rpartition(":")
    algorithm, _, hex_digits = digest.partition(":")
    if len(name) > IMAGE_NAME_MAX:
        why = f"the repository name has {len(name)} characters, more than the {IMAGE_NAME_MAX} registries accept"
    elif not IMAGE_NAME.fullmatch(name):
        why = "the repository is lower-case letters, digits and separators, without spaces or control characters"
    elif tag is not None and not IMAGE_TAG.fullmatch(tag):
        why = "the tag is at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
    elif at and (IMAGE_DIGESTS.get(algorithm) != len(hex_digits) or not re.fullmatch(r"[a-f0-9]+", hex_digits)):
        why = "the digest is sha256: and 64 lower-case hex digits (or sha384, sha512)"
    else:
        return None
    return f"{_shown(reference)!r} is not an image reference: {why}; {_IMAGE_FORM}"
