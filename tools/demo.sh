#!/bin/bash
# The layerfs walkthrough, run by "make demo": an image built step by step
# as container tools do, each step run in a layerfs mount and committed as
# a layer; then what each layer costs, what each changed, which layer
# serves a file, and what squashing saves.  Nothing outside a temporary
# directory is touched; no container engine is needed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
LAYERFS=${LAYERFS:-$top/layerfs}
demo=$(mktemp -d "${TMPDIR:-/tmp}/layerfs-demo.XXXXXX")
mnt=$demo/merged
export LAYERFS_STORE=$demo/store

cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
	fi
	rm -rf "$demo"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$(printf '\033[1m') plain=$(printf '\033[0m'); else bold= plain=; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
lfs() { printf '$ layerfs %s\n' "$*"; "$LAYERFS" "$@"; }

say "A base layer: a tiny root file system"
mkdir -p "$demo/base/bin" "$demo/base/etc" "$demo/upper" "$mnt"
printf 'NAME=demo\n' >"$demo/base/etc/os-release"
printf 'demo\n' >"$demo/base/etc/hostname"
printf '#!/bin/sh\necho hello\n' >"$demo/base/bin/hello"
chmod 755 "$demo/base/bin/hello"
lfs commit -m "base" -t demo "$demo/base" >/dev/null
echo "(stored in $LAYERFS_STORE)"

# Each step runs in a fresh mount of the image and becomes one layer.
step() {
	say "RUN $1"
	"$LAYERFS" mount @demo "$demo/upper" "$mnt"
	(cd "$mnt" && sh -c "$1")
	fusermount3 -u "$mnt"
	"$LAYERFS" commit -m "RUN $1" -t demo "$demo/upper" >/dev/null
	lfs diff @demo
}

step 'mkdir data'
step 'head -c 1048576 /dev/zero | tr "\0" "1" >data/one'
step 'chmod -R 0777 data'
step 'head -c 524288 /dev/zero | tr "\0" "2" >data/two'
step 'chmod -R 0777 data'
step 'rm data/one'

say "The image's layers, top first"
lfs history @demo
echo
echo "Each 'chmod -R' layer holds a whole new copy of every file it touched;"
echo "the 'rm' layer holds only a whiteout, and the deleted megabyte still"
echo "ships in the layers below it (the HIDDEN column)."

say "Which layer holds /data/one?"
lfs which @demo /data/one

say "Squash the image into one layer"
lfs squash -t demo-squashed @demo
lfs history @demo-squashed

say "The squashed image mounts to the same tree"
"$LAYERFS" mount @demo-squashed "$mnt"
(cd "$mnt" && find . | sort | sed 's/^/  /')
fusermount3 -u "$mnt"
