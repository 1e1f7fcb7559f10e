#!/bin/bash
# Builds the stand-in for python:3.11-slim that the image tests build the generated Dockerfiles FROM: no
# container registry is reachable from CI, so the base is made from Debian's packages. debootstrap makes a
# minimal bookworm (whose python3 is 3.11) with python3, python3-venv, python3-pip, python-is-python3 and
# ca-certificates; the host's CA bundle replaces the image's, so that pip inside a build reaches the package
# index the way the host does. buildah (chroot isolation) commits and tags it. Installs buildah and
# debootstrap from Debian's packages when missing. About 2 minutes; cached afterwards, twice: in buildah's
# storage under the tag, and as an OCI archive in DEST, from which the tag is restored if the storage lost it.
#   usage: build-base.sh [DEST]      (DEST defaults to $JD_IMAGES_HOME or ~/.cache/jd-images)
# Prints the image's name (JD_BASE_IMAGE, default localhost/jd-base/python:3.11-slim).
set -euo pipefail
DEST=${1:-${JD_IMAGES_HOME:-$HOME/.cache/jd-images}}
IMAGE=${JD_BASE_IMAGE:-localhost/jd-base/python:3.11-slim}
ARCHIVE=$DEST/$(echo "${IMAGE##*/}" | tr ':' '-').oci.tar
export BUILDAH_ISOLATION=chroot

if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null
fi
if buildah inspect --type image "$IMAGE" >/dev/null 2>&1; then echo "$IMAGE"; exit 0; fi
if [[ -f $ARCHIVE ]]; then
  buildah pull -q "oci-archive:$ARCHIVE" >/dev/null
  echo "$IMAGE"
  exit 0
fi

mkdir -p "$DEST"
W=$(mktemp -d "$DEST/build.XXXXXX")
CTR=
cleanup() {
  if [[ -n $CTR ]]; then buildah rm "$CTR" >/dev/null 2>&1 || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
# the mirror this machine's apt already uses
MIRROR=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[[ -n $MIRROR ]] || MIRROR=$(awk '/^deb / && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[[ -n $MIRROR ]] || MIRROR=http://deb.debian.org/debian
ROOT=$W/rootfs
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
  bookworm "$ROOT" "$MIRROR" >"$W/debootstrap.log" 2>&1 || { tail -20 "$W/debootstrap.log" >&2; exit 1; }
# what python:3.X-slim also is: pip installs into the image's Python (no PEP 668 marker there), apt's lists
# and caches empty, the host's CA bundle (see above)
rm -f "$ROOT"/usr/lib/python3.*/EXTERNALLY-MANAGED
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb
cp /etc/ssl/certs/ca-certificates.crt "$ROOT"/etc/ssl/certs/ca-certificates.crt

CTR=$(buildah from scratch)
MNT=$(buildah mount "$CTR")
cp -a "$ROOT"/. "$MNT"/
buildah umount "$CTR" >/dev/null
buildah config --env LANG=C.UTF-8 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd python3 --label org.opencontainers.image.description="stand-in for python:3.11-slim (Debian bookworm)" \
  "$CTR"
buildah commit -q --rm "$CTR" "$IMAGE" >/dev/null
CTR=
buildah push -q "$IMAGE" "oci-archive:$ARCHIVE.part:$IMAGE" >/dev/null
mv "$ARCHIVE.part" "$ARCHIVE"
echo "$IMAGE"
