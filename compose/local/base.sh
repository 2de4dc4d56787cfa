#!/bin/sh
# The base every local image starts from: Debian bookworm (minbase) from the mirror apt already
# uses, made with debootstrap and imported into the engine. No container registry is needed.
set -eu
TAG=saga-local/debian:bookworm
if docker image inspect "$TAG" >/dev/null 2>&1; then exit 0; fi
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=$(mktemp -d /tmp/saga-debootstrap.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
echo "debootstrap bookworm from $MIRROR (about 45 s) ..."
debootstrap --variant=minbase bookworm "$ROOT/rootfs" "$MIRROR" >"$ROOT/debootstrap.log" 2>&1 \
    || { tail -20 "$ROOT/debootstrap.log"; exit 1; }
# Plain-HTTP apt from inside builds; no recommends, no docs: smaller images.
printf 'APT::Install-Recommends "0";\nAPT::Install-Suggests "0";\n' \
    >"$ROOT/rootfs/etc/apt/apt.conf.d/90saga"
rm -rf "$ROOT/rootfs/var/cache/apt/archives/"*.deb "$ROOT/rootfs/var/lib/apt/lists/"*
tar -C "$ROOT/rootfs" -c . | docker import - "$TAG" >/dev/null
echo "built $TAG"
