# shellcheck shell=bash
#
# lib-pair.sh: one set of layers, mounted twice: by layerfs and by the
# kernel's overlayfs, for tests that run the same commands on both and
# compare what programs see.  Source it after test-lib.sh and
# lib-oracle.sh.  Paths are relative to $TRASH (the cwd of test bodies):
#
#   L/0 .. L/N-1, L/u   the layers as the test builds them (L/0 the top
#			lower; L/u the upper, optional), in any dialect
#   f/0.., f/u, f/m	layerfs's copy and its mount point
#   k/0.., k/u, k/w, k/m the kernel's copy (markers converted by to_kernel)
#
#   fresh		unmount everything, remove L f k and the outputs
#   pair_setup N	copy L/ into f/ and k/; sets LF and LK (lowerdir lists)
#   pair_mount [KOPTS]	mount both (KOPTS: extra kernel overlay options)
#   pair_umount		unmount both (lfs_umount checks the daemon exits)
#   pair_remount [KOPTS] both, unmounted and mounted again
#   both CMD...		run CMD with cwd k/m, then f/m; output to k.out, f.out
#   cmp_out		k.out and f.out must be equal
#   cmp_views		treedump of both mounts must be equal
#   cmp_uppers		both upper dirs, normalised (oracle_normalise_upper)

pair_need_fsop() {
	command -v fsop >/dev/null || skip_all "test helper fsop is not built"
}

# to_kernel SRC DST: a copy of layer SRC in the kernel's dialect: .wh.X
# files become char 0/0 devices, .wh..wh..opq and the user.overlay/
# user.fuseoverlayfs opaque and whiteout xattrs become trusted.overlay.*.
to_kernel() {
	oci_to_kernel "$1" "$2" || return 1
	local line p='' n v
	getfattr -R -h -d --absolute-names -e text \
		-m '^user\.(overlay\.(opaque|whiteout)|fuseoverlayfs\.opaque)$' \
		-- "$2" 2>/dev/null >"$2.x" || return 1
	while IFS= read -r line; do
		case $line in
		"# file: "*) p=${line#\# file: } ;;
		*=*)
			n=${line%%=*} v=${line#*=}
			v=${v#\"} v=${v%\"}
			setfattr -h -x "$n" -- "$p" &&
				setfattr -h -n "trusted.overlay.${n##*.}" -v "$v" \
					-- "$p" || return 1
			;;
		esac
	done <"$2.x"
	rm -f -- "$2.x"
}

# fresh: a clean start for a test: nothing mounted, no layers.
fresh() {
	test_umount_all >/dev/null 2>&1
	rm -rf L f k k.out f.out k.dump f.dump k.upper f.upper
}

# pair_setup NLOWERS: f/0.. and k/0.. from L/0..; f/u and k/u from L/u
# (if any); sets LF, LK.
pair_setup() {
	local n=$1 i
	rm -rf f k && mkdir f k k/w f/m k/m || return 1
	LF= LK=
	for ((i = 0; i < n; i++)); do
		cp -a L/$i f/$i && to_kernel L/$i k/$i || return 1
		LF=${LF:+$LF:}$TRASH/f/$i
		LK=${LK:+$LK:}$TRASH/k/$i
	done
	if [ -d L/u ]; then
		cp -a L/u f/u && to_kernel L/u k/u
	else
		mkdir f/u k/u
	fi
}

pair_mount() { # [KERNEL_OPTS]
	kovl_mount "$LK" k/u k/w k/m "${1:-}" &&
		lfs_mount "$LF" f/u f/m
}

pair_umount() {
	local rc=0
	kovl_umount k/m || rc=1
	lfs_umount f/m || rc=1
	return $rc
}

# Both views must dump the same.
cmp_views() {
	treedump k/m >k.dump && treedump f/m >f.dump &&
		oracle_cmp "views" k.dump f.dump
}

# both CMD...: runs CMD with cwd k/m then f/m; outputs appended to
# k.out and f.out.
both() {
	(cd k/m && "$@") >>k.out 2>&1
	(cd f/m && "$@") >>f.out 2>&1
	return 0
}

cmp_out() {
	oracle_cmp "outputs" k.out f.out
}

pair_remount() { # [KOPTS]
	pair_umount && pair_mount "$@"
}

# The upper dirs, with the kernel's private bookkeeping dropped.
cmp_uppers() {
	treedump -x k/u | oracle_normalise_upper >k.upper &&
		treedump -x f/u | oracle_normalise_upper >f.upper &&
		oracle_cmp "upper dirs" k.upper f.upper
}
