#!/bin/bash
# shellcheck disable=SC2016 # test bodies are single-quoted on purpose
# shellcheck disable=SC2317 # shellcheck thinks skip_all never returns
# shellcheck disable=SC2086 # $(cat pids) and $LIST_PATHS split on purpose
# shellcheck disable=SC2015,SC2034 # "A && B || C" chains; globals the bodies use
# shellcheck source-path=SCRIPTDIR
test_description='podman and buildah with layerfs as their mount_program

Offline, with Debian'"'"'s podman, buildah, skopeo, umoci and runc: a busybox
base image imported from busybox-static, a private storage.conf whose
[storage.options.overlay] mount_program is the tested layerfs (through a
wrapper that logs every call), and then: a multi-step podman build
(mkdir, write, chmod -R, rm, symlink, hard links, rename of a lower
directory, rm -rf and recreate), podman run, diff, history, commit, save,
skopeo copy and umoci unpack; the same with buildah; rootful, then rootless
as a throw-away user when the machine allows it.  /proc/mounts must show
fuse.layerfs, and nothing may stay mounted or running.'
# shellcheck source=test-lib.sh
. "$(dirname "$0")/test-lib.sh"
test_skip_unless_root
test_need_layerfs
export LC_ALL=C

# --- packages -----------------------------------------------------------

PKGS="podman buildah skopeo umoci runc busybox-static uidmap"
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing$missing"
	{ DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq $missing ||
		{ timeout 600 apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive timeout 600 \
				apt-get install -y -qq $missing; }; } \
		>"$TRASH/apt.log" 2>&1 ||
		skip_all "cannot install$missing (apt-get failed: $(tail -n 1 "$TRASH/apt.log"))"
fi
for t in podman buildah skopeo umoci runc perl tar unshare setpriv; do
	command -v $t >/dev/null || skip_all "no $t after installing$PKGS"
done
perl -MJSON::PP -e 1 2>/dev/null || skip_all "needs perl with JSON::PP"
tar --version 2>/dev/null | grep -q GNU || skip_all "needs GNU tar"
BUSYBOX=$(dpkg -L busybox-static 2>/dev/null | grep -m 1 '/bin/busybox$')
[ -x "$BUSYBOX" ] || skip_all "busybox-static has no /bin/busybox"

# --- what every mode shares ---------------------------------------------

# The base image: /bin/busybox and its applet links, reproducible.
mkdir -p "$TRASH/rootfs/bin" "$TRASH/rootfs/etc" "$TRASH/rootfs/tmp" \
	"$TRASH/rootfs/root" "$TRASH/rootfs/proc" "$TRASH/rootfs/sys" \
	"$TRASH/rootfs/dev" && chmod 1777 "$TRASH/rootfs/tmp" &&
	cp "$BUSYBOX" "$TRASH/rootfs/bin/busybox" &&
	for a in $("$BUSYBOX" --list); do
		[ "$a" = busybox ] || ln -s busybox "$TRASH/rootfs/bin/$a" || exit 1
	done &&
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$TRASH/rootfs/etc/passwd" &&
	printf 'root:x:0:\n' >"$TRASH/rootfs/etc/group" &&
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		-C "$TRASH/rootfs" -cf "$TRASH/base.tar" . ||
	skip_all "cannot build the busybox base tar"
BASE=localhost/busybox:base
BASESIZE=$(stat -c %s "$TRASH/base.tar")

# The Containerfile.  The first RUN also proves that the build container's
# root is a layerfs mount.
cat >"$TRASH/Containerfile" <<'EOF'
FROM localhost/busybox:base
RUN grep -q " / fuse.layerfs " /proc/mounts && mkdir -p /app/sub /data/old/inner /data/gone/deep && printf 'hello\n' >/app/hello.txt && head -c 5000 /dev/zero >/app/sub/zero && printf 'one\n' >/data/old/inner/f && printf 'two\n' >/data/gone/deep/g && printf 'keep\n' >/data/keep && printf 'del\n' >/data/del && printf 'orig\n' >/app/orig
RUN chmod -R go-rwx /app
RUN rm /data/del && ln -s hello.txt /app/link && ln /app/orig /app/hard && printf 'pair\n' >/app/p1 && ln /app/p1 /app/p2
RUN mv /data/old /data/new
RUN rm -rf /data/gone && mkdir /data/gone && printf 'new\n' >/data/gone/n
CMD ["/bin/sh"]
EOF

# What a container run of the built image changes (podman run, commit).
RUN_CHANGES='echo changed >/data/keep && rm /app/hello.txt && chmod 700 /app/sub/zero && ln /app/orig /app/orig2 && ln -s /data/keep /klink && mkdir /newdir && echo n >/newdir/f && mv /data/new /data/renamed && rm -rf /data/gone && touch /ready'
# What buildah run changes.
BUILDAH_CHANGES='grep -q " / fuse.layerfs " /proc/mounts && echo changed >/data/keep && rm /app/hello.txt && mkdir /newdir && echo n >/newdir/f && ln /newdir/f /newdir/g && mv /data/new /data/renamed && rm -rf /data/gone'

# LIST: a tree listing, the same from busybox in a container and from the
# host on an unpacked bundle: sh -c "$LIST" _ ROOT PATH...  Directories
# as "path mode" (their size and link count are the file system's own),
# the rest as "path mode nlink size", then symlink targets, hard-link pairs,
# file contents and what is missing.
LIST='cd "$1" || exit 1; shift
for p in $(find "$@" 2>/dev/null | sort); do
	if [ -d "$p" ] && [ ! -L "$p" ]; then stat -c "%n %A" "$p"
	else stat -c "%n %A %h %s" "$p"; fi
done
for p in app/link klink; do [ -L "$p" ] && echo "$p -> $(readlink "$p")"; done
[ -f app/p1 ] && [ "$(stat -c %i app/p1)" = "$(stat -c %i app/p2 2>/dev/null)" ] &&
	echo "app/p1 = app/p2"
for f in data/keep data/gone/n data/new/inner/f data/renamed/inner/f newdir/f app/p1 app/hello.txt; do
	[ -f "$f" ] && echo "$f: $(cat "$f")"
done
for p in data/old data/del data/gone/deep data/new data/gone app/hello.txt; do
	[ -e "$p" ] || echo "no $p"
done
true'
LIST_PATHS="app data newdir klink ready"

# runc sets the container's rlimits: with no CAP_SYS_RESOURCE here even the
# hard limits themselves are refused ("error setting rlimit type 6"), so
# stay well below them.
_lim() {
	if [ "$1" = unlimited ] || [ "$1" -gt $(($2 * 2)) ]; then
		echo "$2"
	else
		echo $(($1 / 2))
	fi
}
NOFILE=$(_lim "$(ulimit -Hn)" 1024)
NPROC=$(_lim "$(ulimit -Hu)" 4096)

# --- per-mode state -----------------------------------------------------
#
# Each mode (rootful, rootless) has its own state directory with its own
# storage.conf, containers.conf, registries.conf, policy.json, store and
# mount program wrapper.  podman is NOT given --root/--runroot: podman 4.3
# then drops the graph options of storage.conf (mount_program included:
# "podman --root R --runroot RR info" shows "graphOptions: {}"), so the
# paths are set in the private storage.conf instead.

PM=$TRASH/pm # rootful
RL=$TRASH/rl # rootless

# setup_state DIR: a fresh state directory.
setup_state() {
	local d=$1
	mkdir -p "$d/run" "$d/tmp" "$d/libpod" "$d/net" "$d/ctx" "$d/root" \
		"$d/home" "$d/xdg" && chmod 700 "$d/xdg" || return 1
	# The mount program: logs "ARGC<TAB>ARG<TAB>ARG..." then execs
	# layerfs, so what runs (and what ps shows) is the tested binary.
	cat >"$d/mount-program" <<-EOF || return 1
	#!/bin/sh
	{ printf '%s' "\$#"; for a; do printf '\t%s' "\$a"; done; echo; } >>"$d/mount-program.log"
	exec "$LAYERFS" "\$@"
	EOF
	chmod 755 "$d/mount-program" && : >"$d/mount-program.log" &&
		cat >"$d/storage.conf" <<-EOF &&
		[storage]
		driver = "overlay"
		graphroot = "$d/root"
		runroot = "$d/run"
		rootless_storage_path = "$d/root"
		[storage.options.overlay]
		mount_program = "$d/mount-program"
		EOF
		cat >"$d/containers.conf" <<-EOF &&
		[containers]
		default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
		[network]
		network_config_dir = "$d/net"
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		events_logfile_path = "$d/events.log"
		tmp_dir = "$d/libpod"
		EOF
		printf 'unqualified-search-registries = []\n' >"$d/registries.conf" &&
		printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' \
			>"$d/policy.json" &&
		cp "$TRASH/Containerfile" "$d/ctx/Containerfile"
}

# use_mode MODE: points the globals (and, rootful, the environment) at the
# state of MODE.
use_mode() {
	MODE=$1
	case $1 in
	rootful) ST=$PM ;;
	rootless) ST=$RL ;;
	esac
	GRAPH=$ST/root
	WRAP=$ST/mount-program
	MOUNTLOG=$ST/mount-program.log
	POLICY=$ST/policy.json
	if [ "$MODE" = rootful ]; then
		export CONTAINERS_STORAGE_CONF=$ST/storage.conf
		export CONTAINERS_CONF=$ST/containers.conf
		export CONTAINERS_REGISTRIES_CONF=$ST/registries.conf
		export TMPDIR=$ST/tmp
	fi
}

# --- running as the rootless user ---------------------------------------
#
# RL_USER is created by the rootless setup test.  /dev/fuse is 0600 and
# root's here (and /dev/null may not be writable for others), so every
# rootless command runs in a private mount namespace (a slave of the
# host's: nothing propagates back) where mode-0666 nodes made in $RL/dev
# are bind-mounted over both; the host's nodes are left alone.
RL_USER=lfst6000
RL_GECOS="layerfs t6000 test user"
RL_CREATED=

as_user() {
	unshare -m --propagation slave sh -c '
		d=$1 u=$2
		shift 2
		mount --make-rshared / &&
			mount --bind "$d/dev/null" /dev/null &&
			mount --bind "$d/dev/fuse" /dev/fuse || exit 125
		exec setpriv --reuid="$u" --regid="$u" --init-groups env -i \
			PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME="$d/home" USER="$u" LOGNAME="$u" LC_ALL=C \
			XDG_RUNTIME_DIR="$d/xdg" TMPDIR="$d/tmp" \
			CONTAINERS_STORAGE_CONF="$d/storage.conf" \
			CONTAINERS_CONF="$d/containers.conf" \
			CONTAINERS_REGISTRIES_CONF="$d/registries.conf" "$@"' \
		_ "$RL" "$RL_USER" "$@"
}

podman() {
	if [ "$MODE" = rootless ]; then
		as_user podman "$@"
	else
		command podman "$@"
	fi
}

buildah() {
	if [ "$MODE" = rootless ]; then
		as_user buildah "$@"
	else
		command buildah "$@"
	fi
}

# in_ns CMD...: runs CMD where the store's mounts live (rootless: inside
# podman's user and mount namespace).
in_ns() {
	if [ "$MODE" = rootless ]; then
		podman unshare "$@"
	else
		"$@"
	fi
}

# --- helpers ------------------------------------------------------------

# mnt_type PATH: the fstype of the topmost mount on PATH (empty if none),
# as /proc/mounts shows it where the store's mounts live.
mnt_type() {
	in_ns cat /proc/self/mounts |
		awk -v p="$1" '$2 == p { t = $3 } END { print t }'
}

# mounts_under DIR [host]: mount points at or below DIR, newest first.
mounts_under() {
	if [ "${2:-}" = host ]; then
		cat /proc/self/mountinfo
	else
		in_ns cat /proc/self/mountinfo
	fi | awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' | tac
}

# no_mounts_under DIR [host]: nothing is mounted there, neither on the host
# nor (rootless, unless "host") in podman's namespace; prints what is.
# GRAPHROOT/overlay itself does not count: containers/storage's overlay
# driver bind-mounts it on itself (MS_PRIVATE) whenever it starts, with or
# without a mount program; podman takes it down when it shuts down with
# nothing mounted, skopeo never does, and rootless "podman unshare" (which
# these checks use) starts the driver in podman's namespace.  The mounts
# below it (containers, shm) count.
no_mounts_under() {
	local m='' h
	if [ "${2:-}" != host ]; then
		m=$(mounts_under "$1") || return 1
	fi
	h=$(mounts_under "$1" host)
	m=$(printf '%s\n%s\n' "$m" "$h" | grep -vxF -e "$GRAPH/overlay" -e '')
	[ -z "$m" ] && return 0
	echo "still mounted under $1:" >&2
	echo "$m" >&2
	return 1
}

# live_procs_with STRING: "pid cmdline" of live (not zombie) processes
# whose command line contains STRING.
live_procs_with() {
	local d pid st cmd
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = $$ ] && continue
		cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
		case $cmd in *"$1"*) ;; *) continue ;; esac
		st=$(sed 's/.*) //' "$d/stat" 2>/dev/null | cut -d' ' -f1)
		case $st in Z | X | '') continue ;; esac
		printf '%s %s\n' "$pid" "$cmd"
	done
}

# no_procs_with STRING: within 10 s no live process mentions STRING.
no_procs_with() {
	local i
	for ((i = 0; i < 100; i++)); do
		live_procs_with "$1" >procs.left
		[ -s procs.left ] || return 0
		sleep 0.1
	done
	echo "still running:" >&2
	cat procs.left >&2
	return 1
}

# daemon_pids MNT: pids of live layerfs daemons serving MNT.
daemon_pids() {
	local d pid
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		# "(deleted)": the binary was rebuilt while the daemon runs
		case $(readlink "$d/exe" 2>/dev/null) in
		"$LAYERFS" | "$LAYERFS (deleted)") ;;
		*) continue ;;
		esac
		sed 's/.*) //' "$d/stat" 2>/dev/null | grep -q '^Z' && continue
		tr '\0' '\n' <"$d/cmdline" 2>/dev/null | grep -qxF -- "$1" &&
			echo "$pid"
	done
}

# wait_gone SECONDS PID...: all PIDs exit (or turn zombie) in time.
wait_gone() {
	local t=$1 i p alive
	shift
	for ((i = 0; i < t * 10; i++)); do
		alive=
		for p in "$@"; do
			[ -d "/proc/$p" ] && ! sed 's/.*) //' "/proc/$p/stat" 2>/dev/null |
				grep -q '^Z' && alive="$alive $p"
		done
		[ -z "$alive" ] && return 0
		sleep 0.1
	done
	echo "still running after ${t}s:$alive" >&2
	return 1
}

# wait_file PATH: PATH appears within 30 seconds.
wait_file() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	echo "$1 did not appear" >&2
	return 1
}

# umount_leftovers DIR: unmounts whatever is still mounted below DIR.
umount_leftovers() {
	local m
	for m in $(mounts_under "$1" 2>/dev/null); do
		echo "unmounting leftover $m" >&2
		if [ "$MODE" = rootless ]; then
			in_ns umount -- "$m" || in_ns umount -l -- "$m"
		else
			fusermount3 -u -- "$m" 2>/dev/null || umount -- "$m" ||
				umount -l -- "$m"
		fi
	done
	for m in $(mounts_under "$1" host); do
		echo "unmounting leftover $m" >&2
		umount -- "$m" || umount -l -- "$m"
	done
	return 0
}

# pm_cleanup: removes every container of the mode's store and unmounts
# what they left.
pm_cleanup() {
	podman rm -a -f -t 0 >/dev/null 2>&1
	buildah rm -a >/dev/null 2>&1
	umount_leftovers "$ST"
}

# hist IMAGE: "SIZE WORD WORD" per history entry, top first (the command
# without "/bin/sh -c ", cut to two words).
hist() {
	podman history --format json "$1" >hist.json &&
		perl -MJSON::PP -e '
			local $/;
			for my $h (@{decode_json(<STDIN>)}) {
				my $c = $h->{CreatedBy} // $h->{createdBy} // "";
				$c =~ s{^/bin/sh -c }{};
				my @w = split " ", $c;
				print join(" ", $h->{size}, @w[0 .. ($#w < 1 ? $#w : 1)]), "\n";
			}' <hist.json
}

# oci_manifest LAYOUT: path of the blob of the first manifest.
oci_manifest() {
	perl -MJSON::PP -e '
		local $/; open my $f, "<", "$ARGV[0]/index.json" or die "$!\n";
		my $d = decode_json(<$f>)->{manifests}[0]{digest};
		$d =~ s/^sha256://; print "$ARGV[0]/blobs/sha256/$d\n"' "$1"
}

# oci_layers LAYOUT: paths of the layer blobs, bottom first.
oci_layers() {
	local m
	m=$(oci_manifest "$1") || return 1
	perl -MJSON::PP -e '
		local $/; open my $f, "<", $ARGV[0] or die "$!\n";
		for (@{decode_json(<$f>)->{layers}}) {
			(my $d = $_->{digest}) =~ s/^sha256://;
			print "$ARGV[1]/blobs/sha256/$d\n";
		}' "$m" "$1"
}

# oci_config_digest LAYOUT
oci_config_digest() {
	local m
	m=$(oci_manifest "$1") || return 1
	perl -MJSON::PP -e '
		local $/; open my $f, "<", $ARGV[0] or die "$!\n";
		print decode_json(<$f>)->{config}{digest}, "\n"' "$m"
}

# layer_list BLOB: "name mode owner size [-> target | link to X]" per tar
# entry, sorted (no times).
layer_list() {
	tar --numeric-owner -tvf "$1" | awk '{
		r = $6 " " $1 " " $2 " " $3
		for (i = 7; i <= NF; i++) r = r " " $i
		print r }' | sort
}

# layer_n LAYOUT N: the N-th layer blob (1 = the base).
layer_n() {
	oci_layers "$1" | sed -n "${2}p"
}

# run_list IMAGE: $LIST inside a fresh container of IMAGE.
run_list() {
	podman run --rm --network none "$1" sh -c "$LIST" _ / $LIST_PATHS
}

# check_unpacked BUNDLE EXPECT_FN: the tree of an umoci bundle.
check_unpacked() {
	"$2" >expect.tree &&
		sh -c "$LIST" _ "$1/rootfs" $LIST_PATHS >actual.tree &&
		test_cmp expect.tree actual.tree
}

# skopeo_out IMAGE LAYOUT:TAG: skopeo copy from the store to an OCI layout.
# Rootless, skopeo runs inside podman's user namespace, where the store is.
skopeo_out() {
	in_ns skopeo copy -q --policy "$POLICY" "containers-storage:$1" "oci:$2"
}

# pm_mount CTR / pm_umount CTR: podman mount needs "podman unshare"
# rootless.
pm_mount() {
	in_ns podman mount "$@"
}

pm_umount() {
	in_ns podman umount "$@"
}

# shapes FILE: the mount program calls of FILE with the store paths and IDs
# replaced by G, ID and L, each distinct shape once, with its count.
shapes() {
	sed -e "s|$1|G|g" -e 's/[0-9a-f]\{64\}/ID/g' \
		-e 's|l/[A-Z0-9]\{26\}|L|g' -e 's/	/ /g' "$2" | sort | uniq -c
}

# --- expected values ----------------------------------------------------
#
# Layer sizes are the sizes of the uncompressed layer tars containers/storage
# writes (Go archive/tar: one 512-byte header per entry, contents padded to
# 512, two zero blocks at the end, no record padding):
# 512 * (entries + content blocks) + 1024, with the entries listed below.
# The first RUN layer also holds etc/ + etc/hostname (a 0755 empty file,
# the bind-mount target that buildah creates) and run/: that is podman's
# own accounting.  Checked by hand when this test was written: the vfs
# driver gives exactly these sizes, layers, diff and commit; fuse-overlayfs
# 1.10 as mount_program gives 3072 for the "rm -rf" step, whose layer then
# lacks data/gone/.wh.deep (its bug #324: a deleted-then-recreated
# directory shows the old contents again after a remount) and the image
# shows /data/gone/deep again.  The import stores base.tar as it is: its
# size is the file's.
expect_build_history() {
	cat <<-EOF
	0 #(nop) CMD
	3584 rm -rf
	4096 mv /data/old
	5632 rm /data/del
	9728 chmod -R
	17920 grep -q
	$BASESIZE #(nop) ADD
	EOF
}

# expect_layer N: the changes of the N-th RUN step, as layer_list prints them.
expect_layer() {
	case $1 in
	1) cat <<-\EOF ;;
	app/ drwxr-xr-x 0/0 0
	app/hello.txt -rw-r--r-- 0/0 6
	app/orig -rw-r--r-- 0/0 5
	app/sub/ drwxr-xr-x 0/0 0
	app/sub/zero -rw-r--r-- 0/0 5000
	data/ drwxr-xr-x 0/0 0
	data/del -rw-r--r-- 0/0 4
	data/gone/ drwxr-xr-x 0/0 0
	data/gone/deep/ drwxr-xr-x 0/0 0
	data/gone/deep/g -rw-r--r-- 0/0 4
	data/keep -rw-r--r-- 0/0 5
	data/old/ drwxr-xr-x 0/0 0
	data/old/inner/ drwxr-xr-x 0/0 0
	data/old/inner/f -rw-r--r-- 0/0 4
	etc/ drwxr-xr-x 0/0 0
	etc/hostname -rwxr-xr-x 0/0 0
	run/ drwxr-xr-x 0/0 0
	EOF
	# chmod -R copies every file of /app into the layer
	2) cat <<-\EOF ;;
	app/ drwx------ 0/0 0
	app/hello.txt -rw------- 0/0 6
	app/orig -rw------- 0/0 5
	app/sub/ drwx------ 0/0 0
	app/sub/zero -rw------- 0/0 5000
	EOF
	# a hard link to a lower file is a whole file in the new layer; two
	# names made in the same step are one file and a tar hard link
	3) cat <<-\EOF ;;
	app/ drwx------ 0/0 0
	app/hard -rw------- 0/0 5
	app/link lrwxrwxrwx 0/0 0 -> hello.txt
	app/p1 -rw-r--r-- 0/0 5
	app/p2 hrw-r--r-- 0/0 0 link to app/p1
	data/ drwxr-xr-x 0/0 0
	data/.wh.del ---------- 0/0 0
	EOF
	# the renamed lower directory: a whiteout and a whole new tree
	4) cat <<-\EOF ;;
	data/ drwxr-xr-x 0/0 0
	data/.wh.old ---------- 0/0 0
	data/new/ drwxr-xr-x 0/0 0
	data/new/inner/ drwxr-xr-x 0/0 0
	data/new/inner/f -rw-r--r-- 0/0 4
	EOF
	# rm -rf and mkdir again: the old child is whited out
	5) cat <<-\EOF ;;
	data/ drwxr-xr-x 0/0 0
	data/gone/ drwxr-xr-x 0/0 0
	data/gone/.wh.deep ---------- 0/0 0
	data/gone/n -rw-r--r-- 0/0 4
	EOF
	esac
}

# check_build_layers LAYOUT: layers 2..6 of LAYOUT are the five RUN steps.
check_build_layers() {
	local i rc=0
	oci_layers "$1" >layers && test_line_count 6 layers || return 1
	for i in 1 2 3 4 5; do
		expect_layer $i >expect.$i &&
			layer_list "$(layer_n "$1" $((i + 1)))" >actual.$i &&
			test_cmp expect.$i actual.$i || rc=1
	done
	return $rc
}

# The end state of the built image.
expect_built_tree() {
	cat <<-\EOF
	app drwx------
	app/hard -rw------- 1 5
	app/hello.txt -rw------- 1 6
	app/link lrwxrwxrwx 1 9
	app/orig -rw------- 1 5
	app/p1 -rw-r--r-- 2 5
	app/p2 -rw-r--r-- 2 5
	app/sub drwx------
	app/sub/zero -rw------- 1 5000
	data drwxr-xr-x
	data/gone drwxr-xr-x
	data/gone/n -rw-r--r-- 1 4
	data/keep -rw-r--r-- 1 5
	data/new drwxr-xr-x
	data/new/inner drwxr-xr-x
	data/new/inner/f -rw-r--r-- 1 4
	app/link -> hello.txt
	app/p1 = app/p2
	data/keep: keep
	data/gone/n: new
	data/new/inner/f: one
	app/p1: pair
	app/hello.txt: hello
	no data/old
	no data/del
	no data/gone/deep
	EOF
}

# podman diff of a container that ran $RUN_CHANGES.  "C /etc" is podman's:
# runc creates the bind-mount target /etc/hosts in the rootfs and podman
# diff hides the file but not its parent (the same on the vfs driver).
expect_run_diff() {
	cat <<-\EOF
	A /app/orig2
	A /data/renamed
	A /data/renamed/inner
	A /data/renamed/inner/f
	A /klink
	A /newdir
	A /newdir/f
	A /ready
	C /app
	C /app/sub
	C /app/sub/zero
	C /data
	C /data/keep
	C /etc
	D /app/hello.txt
	D /data/gone
	D /data/new
	EOF
}

# podman commit of that container: 21 entries + 14 content blocks = 18944
# bytes.  etc/hosts, etc/mtab and run/.containerenv are podman's own
# (mount targets and the mtab link), the same on the vfs driver.
expect_commit_layer() {
	cat <<-\EOF
	app/ drwx------ 0/0 0
	app/.wh.hello.txt ---------- 0/0 0
	app/orig2 -rw------- 0/0 5
	app/sub/ drwx------ 0/0 0
	app/sub/zero -rwx------ 0/0 5000
	data/ drwxr-xr-x 0/0 0
	data/.wh.gone ---------- 0/0 0
	data/.wh.new ---------- 0/0 0
	data/keep -rw-r--r-- 0/0 8
	data/renamed/ drwxr-xr-x 0/0 0
	data/renamed/inner/ drwxr-xr-x 0/0 0
	data/renamed/inner/f -rw-r--r-- 0/0 4
	etc/ drwxr-xr-x 0/0 0
	etc/hosts -rwxr-xr-x 0/0 0
	etc/mtab lrwxrwxrwx 0/0 0 -> /proc/mounts
	klink lrwxrwxrwx 0/0 0 -> /data/keep
	newdir/ drwxr-xr-x 0/0 0
	newdir/f -rw-r--r-- 0/0 2
	ready -rw-r--r-- 0/0 0
	run/ drwxr-xr-x 0/0 0
	run/.containerenv -rwxr-xr-x 0/0 0
	EOF
}

expect_committed_tree() {
	cat <<-\EOF
	app drwx------
	app/hard -rw------- 1 5
	app/link lrwxrwxrwx 1 9
	app/orig -rw------- 1 5
	app/orig2 -rw------- 1 5
	app/p1 -rw-r--r-- 2 5
	app/p2 -rw-r--r-- 2 5
	app/sub drwx------
	app/sub/zero -rwx------ 1 5000
	data drwxr-xr-x
	data/keep -rw-r--r-- 1 8
	data/renamed drwxr-xr-x
	data/renamed/inner drwxr-xr-x
	data/renamed/inner/f -rw-r--r-- 1 4
	klink lrwxrwxrwx 1 10
	newdir drwxr-xr-x
	newdir/f -rw-r--r-- 1 2
	ready -rw-r--r-- 1 0
	app/link -> hello.txt
	klink -> /data/keep
	app/p1 = app/p2
	data/keep: changed
	data/renamed/inner/f: one
	newdir/f: n
	app/p1: pair
	no data/old
	no data/del
	no data/gone/deep
	no data/new
	no data/gone
	no app/hello.txt
	EOF
}

# buildah commit after $BUILDAH_CHANGES: 12 entries + 3 content blocks =
# 8704 bytes.
expect_bcommit_layer() {
	cat <<-\EOF
	app/ drwx------ 0/0 0
	app/.wh.hello.txt ---------- 0/0 0
	data/ drwxr-xr-x 0/0 0
	data/.wh.gone ---------- 0/0 0
	data/.wh.new ---------- 0/0 0
	data/keep -rw-r--r-- 0/0 8
	data/renamed/ drwxr-xr-x 0/0 0
	data/renamed/inner/ drwxr-xr-x 0/0 0
	data/renamed/inner/f -rw-r--r-- 0/0 4
	newdir/ drwxr-xr-x 0/0 0
	newdir/f -rw-r--r-- 0/0 2
	newdir/g hrw-r--r-- 0/0 0 link to newdir/f
	EOF
}

expect_bcommitted_tree() {
	cat <<-\EOF
	app drwx------
	app/hard -rw------- 1 5
	app/link lrwxrwxrwx 1 9
	app/orig -rw------- 1 5
	app/p1 -rw-r--r-- 2 5
	app/p2 -rw-r--r-- 2 5
	app/sub drwx------
	app/sub/zero -rw------- 1 5000
	data drwxr-xr-x
	data/keep -rw-r--r-- 1 8
	data/renamed drwxr-xr-x
	data/renamed/inner drwxr-xr-x
	data/renamed/inner/f -rw-r--r-- 1 4
	newdir drwxr-xr-x
	newdir/f -rw-r--r-- 2 2
	newdir/g -rw-r--r-- 2 2
	app/link -> hello.txt
	app/p1 = app/p2
	data/keep: changed
	data/renamed/inner/f: one
	newdir/f: n
	app/p1: pair
	no data/old
	no data/del
	no data/gone/deep
	no data/new
	no data/gone
	no app/hello.txt
	EOF
}

# buildah_mount_type CTR: the fstype of CTR's buildah mount, from
# /proc/mounts; the mount is dropped again.  Rootless, buildah mounts only
# inside "buildah unshare".
buildah_mount_type() {
	if [ "$MODE" = rootless ]; then
		buildah unshare sh -c '
			m=$(buildah mount "$1") || exit 1
			awk -v p="$m" "\$2 == p { t = \$3 } END { print t }" /proc/mounts
			buildah umount "$1" >/dev/null' _ "$1"
	else
		local m
		m=$(buildah mount "$1") && mnt_type "$m" &&
			buildah umount "$1" >/dev/null
	fi
}

# --- the tests, once per mode -------------------------------------------

# Container names that no image ID can start with: "podman diff c1" once
# showed the diff of an intermediate image whose ID began with c1.
CTR=t6000-run
BCTR=t6000-buildah

suite() {
	use_mode "$1"
	local P=$2

	test_expect_success $P "$MODE: podman info reports layerfs as the mount program" '
		podman info --format "{{json .Store.GraphOptions}}" >info &&
		cat info &&
		grep -qF "\"Executable\":\"$WRAP\"" info &&
		grep -qF "$("$LAYERFS" --version | head -n 1)" info &&
		podman info --format "{{.Store.GraphDriverName}}" >driver &&
		echo overlay >expect && test_cmp expect driver &&
		grep -qx "1	--version" "$MOUNTLOG"
	'

	test_expect_success $P "$MODE: podman import of the busybox base image" '
		podman import -q --change "CMD [\"/bin/sh\"]" "$TRASH/base.tar" \
			"$BASE" &&
		hist "$BASE" >actual &&
		echo "$BASESIZE #(nop) ADD" >expect &&
		test_cmp expect actual
	'

	test_expect_success $P "$MODE: podman build of a multi-step Containerfile" '
		test_when_finished "pm_cleanup" &&
		n0=$(wc -l <"$MOUNTLOG") &&
		podman build --signature-policy "$POLICY" --network none \
			-t localhost/test:podman "$ST/ctx" &&
		podman image exists localhost/test:podman &&
		tail -n +$((n0 + 1)) "$MOUNTLOG" >calls &&
		grep -c "upperdir=" calls >n && test "$(cat n)" -ge 5 &&
		no_mounts_under "$ST"
	'

	test_expect_success $P "$MODE: podman history: exact layer sizes" '
		expect_build_history >expect &&
		hist localhost/test:podman >actual &&
		test_cmp expect actual
	'

	test_expect_success $P "$MODE: the built layers hold exactly the changes of each step" '
		skopeo_out localhost/test:podman "$ST/oci-build:img" &&
		check_build_layers "$ST/oci-build"
	'

	test_expect_success $P "$MODE: podman run of the built image shows the end state" '
		test_when_finished "pm_cleanup" &&
		expect_built_tree >expect &&
		run_list localhost/test:podman >actual &&
		test_cmp expect actual &&
		no_mounts_under "$ST"
	'

	test_expect_success $P "$MODE: podman run: the rootfs is fuse.layerfs; podman diff is exact" '
		podman run -d --name "$CTR" --network none localhost/test:podman \
			sh -c "$RUN_CHANGES && exec sleep 600" >cid &&
		podman inspect --format "{{.GraphDriver.Data.MergedDir}}" "$CTR" \
			>"$ST/c1.merged" &&
		podman inspect --format "{{.GraphDriver.Data.UpperDir}}" "$CTR" >upper &&
		merged=$(cat "$ST/c1.merged") &&
		wait_file "$(cat upper)/ready" &&
		echo fuse.layerfs >expect &&
		mnt_type "$merged" >actual &&
		test_cmp expect actual &&
		pm_mount "$CTR" >pmount &&
		echo "$merged" >expect && test_cmp expect pmount &&
		pm_umount "$CTR" &&
		echo fuse.layerfs >expect && mnt_type "$merged" >actual &&
		test_cmp expect actual &&
		daemon_pids "$merged" >"$ST/c1.pids" &&
		test_line_count 1 "$ST/c1.pids" &&
		awk "/^Uid:/ { print \$2 }" "/proc/$(cat "$ST/c1.pids")/status" \
			>"$ST/c1.uid" &&
		expect_run_diff >expect &&
		podman container diff "$CTR" >diff.raw &&
		sort diff.raw >actual &&
		test_cmp expect actual
	'

	test_expect_success $P "$MODE: podman commit; the committed image runs" '
		podman commit -q "$CTR" localhost/test:committed >/dev/null &&
		hist localhost/test:committed >h &&
		head -n 1 h | cut -d" " -f1 >actual &&
		echo 18944 >expect && test_cmp expect actual &&
		skopeo_out localhost/test:committed "$ST/oci-commit:img" &&
		oci_layers "$ST/oci-commit" >layers && test_line_count 7 layers &&
		expect_commit_layer >expect &&
		layer_list "$(layer_n "$ST/oci-commit" 7)" >actual &&
		test_cmp expect actual &&
		expect_committed_tree >expect &&
		run_list localhost/test:committed >actual &&
		test_cmp expect actual
	'

	test_expect_success $P "$MODE: podman rm: nothing left mounted or running" '
		test_when_finished "pm_cleanup" &&
		merged=$(cat "$ST/c1.merged") &&
		podman rm -f -t 0 "$CTR" &&
		test_must_fail podman container exists "$CTR" &&
		test -z "$(mnt_type "$merged")" &&
		wait_gone 10 $(cat "$ST/c1.pids") &&
		no_mounts_under "$ST" &&
		no_procs_with "$ST"
	'

	test_expect_success $P "$MODE: podman run --rm leaves nothing mounted or running" '
		test_when_finished "pm_cleanup" &&
		podman run --rm --network none localhost/test:podman \
			sh -c "grep -q \" / fuse.layerfs \" /proc/mounts && echo x >/data/keep" &&
		no_mounts_under "$ST" &&
		no_procs_with "$ST"
	'

	test_expect_success $P "$MODE: podman save and skopeo copy to OCI layouts; umoci unpack" '
		podman save -q --format oci-dir -o "$ST/save-dir" localhost/test:committed &&
		podman save -q --format oci-archive -o "$ST/save.tar" \
			localhost/test:committed &&
		mkdir "$ST/save-arch" && tar -xf "$ST/save.tar" -C "$ST/save-arch" &&
		oci_config_digest "$ST/oci-commit" >cfg.skopeo &&
		oci_config_digest "$ST/save-dir" >cfg.dir &&
		oci_config_digest "$ST/save-arch" >cfg.arch &&
		test_cmp cfg.skopeo cfg.dir && test_cmp cfg.skopeo cfg.arch &&
		umoci unpack --image "$ST/oci-commit:img" "$ST/bundle-skopeo" &&
		check_unpacked "$ST/bundle-skopeo" expect_committed_tree &&
		umoci unpack --image "$ST/save-dir:localhost/test:committed" \
			"$ST/bundle-save" &&
		check_unpacked "$ST/bundle-save" expect_committed_tree &&
		umoci unpack --image "$ST/oci-build:img" "$ST/bundle-build" &&
		check_unpacked "$ST/bundle-build" expect_built_tree
	'

	test_expect_success $P "$MODE: buildah build: the same layers, the same sizes" '
		test_when_finished "pm_cleanup" &&
		buildah build --signature-policy "$POLICY" --network none --layers \
			--no-cache -t localhost/test:buildah "$ST/ctx" &&
		expect_build_history >expect &&
		hist localhost/test:buildah >actual &&
		test_cmp expect actual &&
		skopeo_out localhost/test:buildah "$ST/oci-bbuild:img" &&
		check_build_layers "$ST/oci-bbuild" &&
		no_mounts_under "$ST" &&
		no_procs_with "$ST"
	'

	test_expect_success $P "$MODE: buildah from, mount, run, commit, push; umoci unpack" '
		test_when_finished "pm_cleanup" &&
		buildah from -q --signature-policy "$POLICY" --name "$BCTR" \
			localhost/test:buildah &&
		echo fuse.layerfs >expect &&
		buildah_mount_type "$BCTR" >actual &&
		test_cmp expect actual &&
		buildah run --network none "$BCTR" sh -c "$BUILDAH_CHANGES" &&
		buildah commit -q --signature-policy "$POLICY" "$BCTR" \
			localhost/test:bcommit &&
		hist localhost/test:bcommit >h &&
		head -n 1 h | cut -d" " -f1 >actual &&
		echo 8704 >expect && test_cmp expect actual &&
		buildah push -q --signature-policy "$POLICY" localhost/test:bcommit \
			"oci:$ST/oci-bcommit:img" &&
		expect_bcommit_layer >expect &&
		layer_list "$(layer_n "$ST/oci-bcommit" 7)" >actual &&
		test_cmp expect actual &&
		umoci unpack --image "$ST/oci-bcommit:img" "$ST/bundle-bcommit" &&
		check_unpacked "$ST/bundle-bcommit" expect_bcommitted_tree &&
		buildah rm "$BCTR" &&
		no_mounts_under "$ST" &&
		no_procs_with "$ST"
	'

	test_expect_success $P "$MODE: every mount program call is \"-o OPTS TARGET\" or \"--version\"" '
		shapes "$GRAPH/overlay" "$MOUNTLOG" >"$ST/shapes" &&
		while IFS= read -r l; do say "$MODE: $l"; done <"$ST/shapes" &&
		awk -F"\t" "
			\$1 == 1 && \$2 == \"--version\" { next }
			\$1 == 3 && \$2 == \"-o\" && \$3 ~ /^lowerdir=/ { next }
			{ print \"unexpected call: \" \$0; bad = 1 }
			END { exit bad }" "$MOUNTLOG"
	'

	test_expect_success $P "$MODE: nothing left mounted or running" '
		podman ps -a -q >ctrs && test_line_count 0 ctrs &&
		buildah containers -q >bctrs && test_line_count 0 bctrs &&
		no_mounts_under "$ST" &&
		no_procs_with "$ST"
	'
}

# --- rootful ------------------------------------------------------------

# Can this machine run containers at all?  Probed on the vfs driver,
# without layerfs: only a failure here skips.
probe() {
	local v=$TRASH/vfs-probe
	mkdir -p "$v" && {
		printf '[storage]\ndriver = "vfs"\n'
		printf 'graphroot = "%s"\nrunroot = "%s"\n' "$v/root" "$v/run"
	} >"$v/storage.conf" &&
		CONTAINERS_STORAGE_CONF=$v/storage.conf command podman import -q \
			"$TRASH/base.tar" localhost/probe:1 >/dev/null &&
		CONTAINERS_STORAGE_CONF=$v/storage.conf command podman run --rm \
			--network none localhost/probe:1 /bin/true
}

setup_state "$PM" || skip_all "cannot populate $PM"
use_mode rootful
_probe_ok=0
probe >"$TRASH/probe.log" 2>&1 && _probe_ok=1
CONTAINERS_STORAGE_CONF=$TRASH/vfs-probe/storage.conf command podman rm -a -f \
	-t 0 >/dev/null 2>&1
CONTAINERS_STORAGE_CONF=$TRASH/vfs-probe/storage.conf command podman rmi -a -f \
	>/dev/null 2>&1
umount_leftovers "$TRASH/vfs-probe" 2>/dev/null
rm -rf "$TRASH/vfs-probe"
[ $_probe_ok = 1 ] ||
	skip_all "this machine cannot run containers (podman run on the vfs driver, without layerfs, fails: $(grep -m 1 -i error "$TRASH/probe.log" || tail -n 1 "$TRASH/probe.log"))"

# Whatever happens, no container, mount, pause process or test user stays.
teardown_all() {
	local pid
	use_mode rootful
	pm_cleanup
	if [ -n "$RL_CREATED" ]; then
		use_mode rootless
		pm_cleanup
		pid=$(cat "$RL/libpod/pause.pid" 2>/dev/null) &&
			[ -n "$pid" ] && kill "$pid" && wait_gone 5 "$pid"
		umount_leftovers "$RL"
		userdel "$RL_USER" 2>/dev/null || {
			sleep 1
			userdel "$RL_USER"
		}
		RL_CREATED=
	fi
}
# shellcheck disable=SC2154 # assigned in the trap itself
trap '_t6000_rc=$?; teardown_all >/dev/null 2>&1; (exit $_t6000_rc); _tl_on_exit' EXIT

suite rootful ""

# --- rootless -----------------------------------------------------------

# rl_setup: the throw-away user with subordinate ids, its state directory,
# device nodes for its mount namespaces, and a probe on the vfs driver.
# Prints why rootless cannot run here, and fails, if it cannot.
rl_setup() {
	local v
	command -v newuidmap >/dev/null && command -v newgidmap >/dev/null || {
		echo "no newuidmap/newgidmap (package uidmap)"
		return 1
	}
	if getent passwd "$RL_USER" >/dev/null; then
		[ "$(getent passwd "$RL_USER" | cut -d: -f5)" = "$RL_GECOS" ] || {
			echo "a user $RL_USER exists and is not ours"
			return 1
		}
		userdel "$RL_USER" || {
			echo "cannot remove the stale test user $RL_USER"
			return 1
		}
	fi
	useradd -M -U -d "$RL/home" -s /usr/sbin/nologin -c "$RL_GECOS" \
		"$RL_USER" >&2 || {
		echo "useradd $RL_USER failed"
		return 1
	}
	RL_CREATED=1
	grep -q "^$RL_USER:" /etc/subuid ||
		usermod --add-subuids 200000-265535 "$RL_USER" >&2
	grep -q "^$RL_USER:" /etc/subgid ||
		usermod --add-subgids 200000-265535 "$RL_USER" >&2
	grep -q "^$RL_USER:" /etc/subuid && grep -q "^$RL_USER:" /etc/subgid || {
		echo "no subuid/subgid range for $RL_USER"
		return 1
	}
	setup_state "$RL" && mkdir -p "$RL/dev" &&
		mknod -m 666 "$RL/dev/null" c 1 3 &&
		mknod -m 666 "$RL/dev/fuse" c 10 229 || {
		echo "cannot make device nodes in $RL"
		return 1
	}
	chown -R "$RL_USER:$RL_USER" "$RL" && chown root:root "$RL/mount-program" ||
		return 1
	as_user sh -c ': >/dev/null && exec 3<>/dev/fuse' >&2 || {
		echo "the test user cannot open /dev/null and /dev/fuse (nodev file system under $RL?)"
		return 1
	}
	v=$RL/vfs-probe
	mkdir -p "$v" && chown "$RL_USER:$RL_USER" "$v" &&
		printf '[storage]\ndriver = "vfs"\nrootless_storage_path = "%s"\nrunroot = "%s"\n' \
			"$v/root" "$v/run" >"$RL/vfs-probe.conf" &&
		cp "$RL/storage.conf" "$RL/storage.conf.layerfs" &&
		cp "$RL/vfs-probe.conf" "$RL/storage.conf" &&
		as_user podman import -q "$TRASH/base.tar" localhost/probe:1 >&2 &&
		as_user podman run --rm --network none localhost/probe:1 /bin/true >&2
	v=$?
	as_user podman rmi -a -f >/dev/null 2>&1
	pid=$(cat "$RL/libpod/pause.pid" 2>/dev/null) && [ -n "$pid" ] &&
		kill "$pid" && wait_gone 5 "$pid"
	cp "$RL/storage.conf.layerfs" "$RL/storage.conf"
	as_user rm -rf "$RL/vfs-probe" "$RL/libpod" "$RL/run" "$RL/xdg/containers" \
		"$RL/xdg/libpod"
	mkdir -p "$RL/libpod" && chown "$RL_USER:$RL_USER" "$RL/libpod"
	[ $v = 0 ] || {
		echo "rootless podman cannot run containers here (vfs driver, without layerfs)"
		return 1
	}
}

test_expect_success 'rootless: a throw-away user with subordinate ids' '
	if rl_setup >rl.why; then
		test_set_prereq ROOTLESS
	else
		say "skipping rootless: $(tail -n 1 rl.why)"
	fi
'

suite rootless ROOTLESS

test_expect_success ROOTLESS 'rootless: layerfs runs as the test user, without uid mappings' '
	id -u "$RL_USER" >expect &&
	test_cmp expect "$RL/c1.uid" &&
	! grep -E "uidmapping|gidmapping|squash_to" "$MOUNTLOG" &&
	grep -q "upperdir=" "$MOUNTLOG"
'

test_expect_success ROOTLESS 'rootless: the pause process and the test user go' '
	pid=$(cat "$RL/libpod/pause.pid" 2>/dev/null) &&
	if [ -n "$pid" ]; then kill "$pid" && wait_gone 5 "$pid"; fi &&
	userdel "$RL_USER" &&
	RL_CREATED= &&
	! getent passwd "$RL_USER" &&
	! grep -q "^$RL_USER:" /etc/subuid &&
	! grep -q "^$RL_USER:" /etc/subgid &&
	ps -o pid=,stat=,args= -u "$(stat -c %u "$RL/home")" >procs &&
	! grep -v " Z" procs &&
	no_procs_with "$TRASH"
'

# Last: the store homes'"'"' private bind mounts (see no_mounts_under) go too,
# and then nothing at all is mounted under $TRASH.
test_expect_success 'nothing at all is left mounted or running' '
	use_mode rootful &&
	case $(mnt_type "$GRAPH/overlay") in
	"" | fuse.*) ;;
	*) umount "$GRAPH/overlay" ;;
	esac &&
	mounts_under "$TRASH" host >left &&
	test_line_count 0 left &&
	no_procs_with "$TRASH"
'

test_done
