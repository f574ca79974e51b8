#!/bin/bash
# shellcheck disable=SC2016 # test bodies are single-quoted on purpose
test_description='metadata-only copy-up (-o metacopy=on), in the kernel format

With metacopy=on, chmod, chown, utimes and xattr changes of a lower file
copy up its metadata only: the upper file is sparse and carries
overlay.metacopy, its data stays below until the first write.  The kernel
(metacopy=on,redirect_dir=on,index=on) is the oracle: same views, and
each side reads the metacopy files of the other.'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIR/lib-oracle.sh"
test_skip_unless_root
test_need_layerfs
test_need_helpers
test_need_kovl
export LC_ALL=C

KOPTS=metacopy=on,redirect_dir=on,index=on
MB=16

# mklower DIR: a big random file, a small one and a directory.
mklower() {
	mkdir -p "$1/d" &&
		head -c $((MB << 20)) /dev/urandom >"$1/d/big" &&
		cp "$1/d/big" "$1/d/big2" && cp "$1/d/big" "$1/d/big3" &&
		echo small >"$1/d/small" &&
		setfattr -n user.x -v lower "$1/d/big" &&
		touch -d @1234567890 "$1/d/big" "$1/d/big2" "$1/d/big3" "$1/d"
}

# setup: k/ for the kernel, f/ for layerfs, over copies of one lower.
setup() {
	test_umount_all >/dev/null 2>&1
	rm -rf L k f && mklower L &&
		mkdir -p k/u k/w k/m f/u f/m &&
		cp -a L k/l && cp -a L f/l
}

mount_both() {
	kovl_mount k/l k/u k/w k/m "$KOPTS" &&
		lfs_mount -o metacopy=on f/l f/u f/m
}

umount_both() {
	kovl_umount k/m && lfs_umount f/m
}

# view ROOT PATH...: what programs see: type, mode, owner, size, the
# mtime of files, user xattrs, content.
view() {
	local root=$1 p t
	shift
	for p in "$@"; do
		t=" %Y"
		[ -d "$root/$p" ] && t=
		stat -c "%n %F %a %u %g %s$t" "$root/$p" | sed "s#^$root/##"
		getfattr -d -m '^user\.' --absolute-names "$root/$p" 2>/dev/null |
			sed -e '/^#/d' -e '/^$/d' -e 's/^/  /'
		[ -f "$root/$p" ] && echo "  md5 $(md5sum <"$root/$p")"
	done
}

# is_meta FILE: FILE carries overlay.metacopy and holds (almost) no data.
is_meta() {
	getfattr -n trusted.overlay.metacopy "$1" >/dev/null 2>&1 &&
		test "$(stat -c %b "$1")" -lt 2048
}

# is_whole FILE: a plain copy, data and all.
is_whole() {
	! getfattr -n trusted.overlay.metacopy "$1" >/dev/null 2>&1 &&
		test "$(stat -c %b "$1")" -ge $((MB << 11))
}

both() {
	(cd k/m && sh -c "$1") >k.out 2>&1
	(cd f/m && sh -c "$1") >f.out 2>&1
	oracle_cmp "outputs" k.out f.out
}

PATHS="d d/big d/big2 d/big3 d/small"

test_expect_success 'chmod, chown, utimes and setxattr copy up metadata only' '
	test_when_finished "test_umount_all" &&
	setup && mount_both &&
	both "chmod 600 d/big && chown 7:8 d/big2 &&
		touch -h -d @1500000000 d/big3 && setfattr -n user.y -v 1 d/big &&
		echo ok" &&
	view k/m $PATHS >k.view && view f/m $PATHS >f.view &&
	oracle_cmp "views" k.view f.view &&
	for b in big big2 big3; do
		is_meta k/u/d/$b && is_meta f/u/d/$b || return 1
	done &&
	test "$(stat -c %s f/u/d/big)" = $((MB << 20)) &&
	cmp f/l/d/big f/m/d/big &&
	test "$(stat -c %b f/m/d/big)" = "$(stat -c %b k/m/d/big)"
'

test_expect_success 'each side reads the metacopy files of the other, also after a rename on the kernel' '
	test_when_finished "test_umount_all" &&
	setup && mount_both &&
	both "chmod 600 d/big && chown 7:8 d/big2 && echo ok" &&
	(cd k/m && mv d/big2 d/moved && mkdir e && mv d/moved e/far) &&
	(cd f/m && mv d/big2 d/moved && mkdir e && mv d/moved e/far) &&
	view k/m $PATHS e/far 2>&1 | grep -v big2 >k.view &&
	view f/m $PATHS e/far 2>&1 | grep -v big2 >f.view &&
	oracle_cmp "views" k.view f.view &&
	getfattr -n trusted.overlay.redirect k/u/e/far >/dev/null &&
	umount_both &&
	mkdir -p x/km x/fm &&
	kovl_mount f/l f/u "$(lfs_workdir f/u)" x/km "$KOPTS" &&
	lfs_mount -o workdir=$TRASH/k/w -o metacopy=on k/l k/u x/fm &&
	view x/km $PATHS e/far 2>&1 | grep -v big2 >xk.view &&
	view x/fm $PATHS e/far 2>&1 | grep -v big2 >xf.view &&
	oracle_cmp "layerfs upper read by the kernel" f.view xk.view &&
	oracle_cmp "kernel upper read by layerfs" k.view xf.view &&
	cmp L/d/big2 x/fm/e/far
'

test_expect_success 'the first write copies the data up, and a reader sees it' '
	test_when_finished "exec 8<&-; test_umount_all" &&
	setup && mount_both &&
	both "chmod 600 d/big d/big2 d/big3 && echo ok" &&
	exec 8<f/m/d/big &&
	head -c 100 <&8 >/dev/null &&
	both "printf XYZ | dd of=d/big bs=1 seek=50 conv=notrunc status=none &&
		truncate -s 1000 d/big2 && truncate -s 0 d/big3 && echo ok" &&
	is_whole f/u/d/big && ! is_meta f/u/d/big2 && ! is_meta f/u/d/big3 &&
	# written a moment apart: no mtimes
	view k/m $PATHS | sed "s/ [0-9]*\$//" >k.view &&
	view f/m $PATHS | sed "s/ [0-9]*\$//" >f.view &&
	oracle_cmp "views" k.view f.view &&
	test "$(head -c 53 f/m/d/big | tail -c 3)" = XYZ &&
	head -c 1000 L/d/big >expect && cmp expect f/m/d/big2 &&
	cat <&8 >rest && tail -c +101 f/m/d/big | cmp - rest &&
	exec 8<&- && lfs_umount f/m && lfs_mount -o metacopy=on f/l f/u f/m &&
	view f/m $PATHS | sed "s/ [0-9]*\$//" >f.view2 &&
	oracle_cmp "views after a remount" f.view f.view2
'

test_expect_success 'rename and link of a metacopy file give it its data first' '
	test_when_finished "test_umount_all" &&
	setup && lfs_mount -o metacopy=on f/l f/u f/m &&
	chmod 600 f/m/d/big f/m/d/big2 && is_meta f/u/d/big &&
	mv f/m/d/big f/m/d/renamed && ln f/m/d/big2 f/m/linked &&
	is_whole f/u/d/renamed && is_whole f/u/linked &&
	cmp L/d/big f/m/d/renamed && cmp L/d/big2 f/m/linked &&
	lfs_umount f/m &&
	kovl_mount f/l f/u "$(lfs_workdir f/u)" k/m "$KOPTS" &&
	cmp L/d/big k/m/d/renamed && cmp L/d/big2 k/m/d/big2 &&
	test "$(stat -c %a k/m/d/renamed)" = 600
'

test_expect_success 'a data copy-up cut short shows nothing of it' '
	test_when_finished "test_umount_all" &&
	setup && lfs_mount -o metacopy=on f/l f/u f/m &&
	chmod 600 f/m/d/big && lfs_umount f/m &&
	is_meta f/u/d/big &&
	yes garbage | head -c 100000 |
		dd of=f/u/d/big conv=notrunc status=none &&
	lfs_mount -o metacopy=on f/l f/u f/m &&
	cmp L/d/big f/m/d/big &&
	printf Q | dd of=f/m/d/big bs=1 seek=7 conv=notrunc status=none &&
	{ head -c 7 L/d/big; printf Q; tail -c +9 L/d/big; } >expect &&
	cmp expect f/m/d/big && cmp expect f/u/d/big
'

test_expect_success 'without metacopy=on, chmod copies the data, as the kernel does' '
	test_when_finished "test_umount_all" &&
	setup && lfs_mount f/l f/u f/m &&
	chmod 600 f/m/d/big && is_whole f/u/d/big && cmp L/d/big f/m/d/big
'

test_expect_success 'a metacopy file whose data is gone fails with EIO, as on the kernel' '
	test_when_finished "test_umount_all" &&
	setup && lfs_mount -o metacopy=on f/l f/u f/m &&
	chmod 600 f/m/d/big && lfs_umount f/m &&
	rm f/l/d/big && lfs_mount -o metacopy=on f/l f/u f/m &&
	test_must_fail stat f/m/d/big 2>err &&
	grep "Input/output error" err
'

test_expect_success 'metacopy= takes on or off' '
	mkdir -p bad/l bad/u bad/m &&
	test_must_fail "$LAYERFS" mount -o metacopy=yes bad/l bad/u bad/m 2>err &&
	test_line_count 1 err && grep "metacopy=yes" err &&
	! grep -q " $TRASH/bad/m " /proc/self/mountinfo
'

test_done
