#!/bin/bash
# layerfs walkthrough on built-in sample layers: run by "make demo".
# Builds two small layers, mounts them with an empty upper, changes a few
# things through the mount and shows what each change left in the upper
# directory: copy-up, whiteouts, opaque directories, renamed directories.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
LAYERFS=${LAYERFS:-$top/layerfs}
demo=$(mktemp -d "${TMPDIR:-/tmp}/layerfs-demo.XXXXXX")
mnt=$demo/merged

cleanup() {
	if mountpoint -q "$mnt" 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
	fi
	rm -rf "$demo"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$(printf '\033[1m') plain=$(printf '\033[0m'); else bold= plain=; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ %s\n' "$*"; (cd "$mnt" && eval "$@"); }
upper() { (cd "$demo/upper" && find . -mindepth 1 | sort | while read -r p; do
	printf '  %-22s %s\n' "$p" "$(stat -c '%F' "$p" | sed 's/character special file/whiteout (char 0\/0)/')"
	getfattr -d -m 'overlay\.\(opaque\|redirect\)' --absolute-names "$p" 2>/dev/null | sed -n 's/^\(trusted\|user\)\.overlay\./      overlay./p'
done); }

step "Two read-only layers"
mkdir -p "$demo/base/etc" "$demo/base/usr/share/doc" "$demo/app/etc" "$demo/upper" "$mnt"
echo "hostname=base" > "$demo/base/etc/config"
echo "motd from base" > "$demo/base/etc/motd"
echo "readme" > "$demo/base/usr/share/doc/README"
echo "hostname=app" > "$demo/app/etc/config"
echo "app binary" > "$demo/app/app.bin"
(cd "$demo" && find base app -type f | sort | sed 's/^/  /')

step "Mount them: app on top of base, with an empty upper"
echo "\$ layerfs mount app:base upper merged"
"$LAYERFS" mount "$demo/app:$demo/base" "$demo/upper" "$mnt"
run 'find . | sort'
run 'cat etc/config   # the top layer wins'

step "Write to a lower file: it is copied up first"
run 'echo "hostname=changed" > etc/config'
upper

step "Delete a lower file: a whiteout hides it"
run 'rm etc/motd; ls etc'
upper

step "Rename a lower directory: it keeps its contents (a redirect)"
run 'mv usr/share/doc usr/share/manual; find usr | sort'
upper

step "Replace a lower directory: the new one is opaque"
run 'rm -rf etc && mkdir etc && echo fresh > etc/new && ls etc'
upper

step "The lower layers never changed"
(cd "$demo" && find base app -type f | sort | sed 's/^/  /')

fusermount3 -u "$mnt"
echo
echo "Unmounted. The upper directory alone is the change set; the kernel's"
echo "overlayfs mounts it too: mount -t overlay -o redirect_dir=on,lowerdir=app:base,..."
