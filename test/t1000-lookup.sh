#!/bin/bash
# shellcheck disable=SC2016 # test bodies are single-quoted on purpose
test_description='lookup: layer order, hiding, markers of every dialect, limits

Each test builds its layers in L/ (L/0 the top lower), gives layerfs a copy
(f/) and kernel overlayfs a copy converted to the kernel'\''s own markers (k/),
and compares what programs see on both mounts.'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIR/lib-oracle.sh"
. "$TEST_DIR/lib-pair.sh"
test_skip_unless_root
test_need_layerfs
test_need_helpers
test_need_kovl
pair_need_fsop

# Every path of every layer, and each with .wh. taken off its last part.
candidate_paths() {
	local d
	for d in "$@"; do
		find "$d" -mindepth 1 -printf '%P\n'
	done | sed 'p; s#\(^\|/\)\.wh\.\([^/]*\)$#\1\2#' | sort -u
}

# names_agree MNT ORDER PATHS: lstat of each path succeeds iff readdir of
# its parent lists it; ORDER lookup-first or readdir-first says which
# kind of call reaches the fresh mount first.
names_agree() {
	local m=$1 order=$2 paths=$3 p
	_lookups() {
		while IFS= read -r p; do
			if [ -e "$m/$p" ] || [ -L "$m/$p" ]; then
				echo "$p"
			fi
		done <"$paths" >looked
	}
	_listing() {
		find "$m" -mindepth 1 -printf '%P\n' 2>>find.err | sort >listed
	}
	if [ "$order" = lookup-first ]; then
		_lookups && _listing
	else
		_listing && _lookups
	fi || return 1
	# only the candidates matter in the listing
	sort -u looked >looked.s &&
		grep -Fxf "$paths" listed >listed.s
	oracle_cmp "names ($order): found by lookup vs listed by readdir" \
		looked.s listed.s lookup readdir
}

mklayers_order() {
	mkdir -p L/0 L/1 L/2 &&
		echo top >L/0/f && echo mid >L/1/f && echo bottom >L/2/f &&
		echo mid >L/1/g && echo bottom >L/2/g &&
		echo bottom >L/2/h &&
		mkdir L/0/d L/1/d L/2/d &&
		echo top >L/0/d/f && echo mid >L/1/d/f && echo bottom >L/2/d/f &&
		echo mid >L/1/d/g && echo bottom >L/2/d/h
}

test_expect_success 'lookup is top-down: the topmost layer holding a name wins' '
	fresh && mklayers_order && pair_setup 3 && pair_mount &&
	test_when_finished "pair_umount" &&
	echo "top mid bottom top mid bottom" >expect &&
	echo $(cat f/m/f f/m/g f/m/h f/m/d/f f/m/d/g f/m/d/h) >actual &&
	test_cmp expect actual &&
	cmp_views
'

test_expect_success 'the upper layer is above every lower' '
	fresh && mklayers_order && mkdir -p L/u/d && echo upper >L/u/f &&
	echo upper >L/u/d/g &&
	pair_setup 3 && pair_mount &&
	test_when_finished "pair_umount" &&
	echo "upper mid bottom top upper bottom" >expect &&
	echo $(cat f/m/f f/m/g f/m/h f/m/d/f f/m/d/g f/m/d/h) >actual &&
	test_cmp expect actual &&
	cmp_views
'

test_expect_success 'a non-directory hides everything below it' '
	fresh && mkdir -p L/0 L/1 L/2 &&
	echo file >L/0/x && mkdir L/1/x && echo child >L/1/x/child &&
	ln -s x L/0/y && mkdir L/1/y && echo child >L/1/y/child &&
	mkfifo L/0/p && mkdir L/1/p && echo child >L/1/p/child &&
	mkdir L/0/z && echo a >L/0/z/a && echo file >L/1/z &&
	mkdir L/2/z && echo b >L/2/z/b &&
	mkdir L/2/x && echo deep >L/2/x/deep &&
	pair_setup 3 && pair_mount &&
	test_when_finished "pair_umount" &&
	test_path_is_file f/m/x && test -L f/m/y && test -p f/m/p &&
	test "$(fsop stat f/m/x/child)" = ENOTDIR &&
	test "$(fsop stat f/m/p/child)" = ENOTDIR &&
	test_path_is_missing f/m/y/child &&
	test_path_is_missing f/m/z/b &&
	echo a >expect && ls -A f/m/z >actual && test_cmp expect actual &&
	both fsop stat x/child && both fsop stat y/child &&
	both fsop stat x/deep && both ls -A z && cmp_out &&
	cmp_views
'

test_expect_success 'directories merge names; the topmost supplies mode, owner, xattrs' '
	fresh && mkdir -p L/0/d L/1/d L/2/d &&
	echo a >L/0/d/a && echo b >L/1/d/b && echo c >L/2/d/c &&
	chmod 0750 L/0/d && chown 5:6 L/0/d &&
	setfattr -n user.a -v top L/0/d &&
	chmod 0700 L/1/d && chown 7:8 L/1/d &&
	setfattr -n user.a -v mid L/1/d && setfattr -n user.b -v mid L/1/d &&
	chmod 2777 L/2/d && chown 9:9 L/2/d &&
	touch -d @1000000000.123456789 L/0/d && touch -d @2000000000 L/1/d &&
	pair_setup 3 && pair_mount &&
	test_when_finished "pair_umount" &&
	echo "a b c" >expect && echo $(ls f/m/d) >actual && test_cmp expect actual &&
	stat -c "%A %u %g %y" L/0/d >expect &&
	stat -c "%A %u %g %y" f/m/d >actual && test_cmp expect actual &&
	getfattr -d --absolute-names L/0/d | sed "s#^\# file: .*##" >expect &&
	getfattr -d --absolute-names f/m/d | sed "s#^\# file: .*##" >actual &&
	test_cmp expect actual &&
	both stat -c "%A %u %g %y %s" d && both getfattr -d d && cmp_out &&
	cmp_views
'

test_expect_success 'an upper directory supplies the merged directory metadata' '
	fresh && mkdir -p L/0/d L/1/d L/u/d &&
	echo a >L/0/d/a && echo b >L/1/d/b && echo u >L/u/d/u &&
	chmod 0750 L/0/d && setfattr -n user.a -v low L/0/d &&
	chmod 0711 L/u/d && chown 3:4 L/u/d && setfattr -n user.u -v up L/u/d &&
	touch -d @1500000000.5 L/u/d &&
	pair_setup 2 && pair_mount &&
	test_when_finished "pair_umount" &&
	stat -c "%A %u %g %y" L/u/d >expect &&
	stat -c "%A %u %g %y" f/m/d >actual && test_cmp expect actual &&
	echo "a b u" >expect && echo $(ls f/m/d) >actual && test_cmp expect actual &&
	both stat -c "%A %u %g %y" d && both getfattr -d d && cmp_out &&
	cmp_views
'

# Markers of every dialect in the middle layer L/1, hiding things of L/2;
# L/0 merges on top of the opaque directories.
mklayers_markers() {
	mkdir -p L/0 L/1 L/2 || return 1
	local o
	for o in o_trusted o_user o_fuse o_aufs; do
		mkdir L/0/$o L/1/$o L/2/$o &&
			echo zero >L/0/$o/zero && echo one >L/1/$o/one &&
			echo two >L/2/$o/two && echo two >L/2/$o/one2 &&
			mkdir L/2/$o/sub && echo two >L/2/$o/sub/x || return 1
	done
	setfattr -n trusted.overlay.opaque -v y L/1/o_trusted &&
		setfattr -n user.overlay.opaque -v y L/1/o_user &&
		setfattr -n user.fuseoverlayfs.opaque -v y L/1/o_fuse &&
		: >L/1/o_aufs/.wh..wh..opq &&
		echo two >L/2/w_chr && mknod L/1/w_chr c 0 0 &&
		echo two >L/2/w_oci && : >L/1/.wh.w_oci &&
		mkdir L/2/w_dir && echo two >L/2/w_dir/x && : >L/1/.wh.w_dir &&
		mkdir L/2/w_cdir && echo two >L/2/w_cdir/x && mknod L/1/w_cdir c 0 0 &&
		mkdir L/1/xw L/2/xw &&
		echo two >L/2/xw/gone && echo two >L/2/xw/kept &&
		echo one >L/1/xw/one &&
		: >L/1/xw/gone && setfattr -n trusted.overlay.whiteout -v y L/1/xw/gone &&
		setfattr -n trusted.overlay.opaque -v x L/1/xw &&
		echo zero >L/0/t0
}

test_expect_success 'lower markers of every dialect hide what they should' '
	fresh && mklayers_markers && pair_setup 3 && pair_mount &&
	test_when_finished "pair_umount" &&
	for o in o_trusted o_user o_fuse o_aufs; do
		echo "one zero" >expect &&
		echo $(ls -A f/m/$o) >actual &&
		test_cmp expect actual || return 1
	done &&
	for p in w_chr w_oci w_dir w_cdir xw/gone o_user/two o_aufs/sub; do
		test "$(fsop stat f/m/$p)" = ENOENT || { echo "visible: $p"; return 1; }
	done &&
	echo "kept one" >expect && echo $(ls -A f/m/xw) >actual &&
	test_cmp expect actual &&
	cmp_views
'

test_expect_success 'upper markers of every dialect hide what they should' '
	fresh && mkdir -p L/0 L/u &&
	for o in o_trusted o_user o_fuse o_aufs; do
		mkdir L/0/$o L/u/$o && echo zero >L/0/$o/zero &&
		echo up >L/u/$o/up || return 1
	done &&
	setfattr -n trusted.overlay.opaque -v y L/u/o_trusted &&
	setfattr -n user.overlay.opaque -v y L/u/o_user &&
	setfattr -n user.fuseoverlayfs.opaque -v y L/u/o_fuse &&
	: >L/u/o_aufs/.wh..wh..opq &&
	echo zero >L/0/w_chr && mknod L/u/w_chr c 0 0 &&
	echo zero >L/0/w_oci && : >L/u/.wh.w_oci &&
	mkdir L/0/w_dir && echo zero >L/0/w_dir/x && : >L/u/.wh.w_dir &&
	echo zero >L/0/kept &&
	pair_setup 1 && pair_mount &&
	test_when_finished "pair_umount" &&
	for o in o_trusted o_user o_fuse o_aufs; do
		echo up >expect && ls -A f/m/$o >actual &&
		test_cmp expect actual || return 1
	done &&
	echo "kept o_aufs o_fuse o_trusted o_user" >expect &&
	echo $(ls -A f/m) >actual && test_cmp expect actual &&
	cmp_views
'

test_expect_success 'markers never show: readdir, lookup, listxattr' '
	fresh && mklayers_markers && mkdir -p L/u/o_aufs && : >L/u/.wh.t0 &&
	: >L/u/o_aufs/.wh..wh..opq && echo two >L/2/t0 &&
	pair_setup 3 && pair_mount &&
	test_when_finished "pair_umount" &&
	find f/m -name ".wh.*" >found && test_must_fail test -s found &&
	for p in .wh.w_oci .wh.w_dir .wh.t0 o_aufs/.wh..wh..opq .wh..wh..opq \
		.wh.nosuch o_aufs/.wh.one; do
		test "$(fsop stat "f/m/$p")" = ENOENT || { echo "$p"; return 1; }
	done &&
	for p in o_trusted o_user o_fuse o_aufs xw xw/kept; do
		getfattr -h -d -m - --absolute-names "f/m/$p" || return 1
	done >xattrs &&
	test_must_fail grep -E "overlay|fuseoverlayfs" xattrs &&
	cmp_views
'

test_expect_success 'names starting with .wh. cannot be created through the mount' '
	fresh && mkdir -p L/0/d && echo zero >L/0/t0 && echo zero >L/0/d/a &&
	pair_setup 1 && lfs_mount "$LF" f/u f/m &&
	test_when_finished "lfs_umount f/m" &&
	for op in "open .wh.t0 creat,wronly" "open .wh.new creat,excl,wronly" \
		"mkdir .wh.t0 755" "mkdir .wh..wh..opq 755" \
		"symlink x .wh.t0" "mknod .wh.t0 fifo 644" "link t0 .wh.t0" \
		"rename2 t0 .wh.t0" "open d/.wh..wh..opq creat,wronly" \
		"open d/.wh.a creat,wronly"; do
		# shellcheck disable=SC2086
		r=$(cd f/m && fsop $op) &&
		echo "$op: $r" &&
		test "$r" != ok || return 1
	done &&
	test_must_fail touch f/m/.wh.t0 &&
	find f/m f/u -name ".wh.*" >found && test_must_fail test -s found &&
	echo zero >expect && cat f/m/t0 >actual && test_cmp expect actual &&
	cat f/m/d/a >actual && test_cmp expect actual &&
	lfs_umount f/m && lfs_mount "$LF" f/u f/m &&
	cat f/m/t0 >actual && test_cmp expect actual &&
	cat f/m/d/a >actual && test_cmp expect actual
'

test_expect_success 'a whiteout that hides nothing is not listed' '
	fresh && mkdir -p L/0 L/1 L/u &&
	mknod L/0/orphan c 0 0 && : >L/0/.wh.orphan2 &&
	mkdir L/0/d L/1/d && mknod L/0/d/orphan c 0 0 && echo x >L/1/d/kept &&
	mknod L/u/uorphan c 0 0 &&
	pair_setup 2 && lfs_mount "$LF" f/u f/m &&
	test_when_finished "lfs_umount f/m" &&
	ls -A f/m >actual && echo d >expect && test_cmp expect actual &&
	ls -A f/m/d >actual && echo kept >expect && test_cmp expect actual &&
	for p in orphan orphan2 uorphan d/orphan; do
		test "$(fsop stat f/m/$p)" = ENOENT || return 1
	done
'

# Layers where every kind of hiding happens, for the lookup/readdir
# agreement tests.
mklayers_agree() {
	mklayers_markers &&
		mkdir -p L/u/o_trusted L/u/mrg L/0/mrg L/2/mrg &&
		echo z >L/0/mrg/z && echo two >L/2/mrg/two && echo two >L/2/mrg/gone &&
		mknod L/u/mrg/gone c 0 0 && : >L/u/.wh.t0 &&
		mknod L/0/orphan c 0 0 && : >L/0/.wh.orphan2 &&
		mkdir L/0/x && echo file >L/1/x && mkdir L/2/x && echo b >L/2/x/b &&
		echo file >L/0/y && mkdir L/1/y && echo c >L/1/y/c &&
		: >L/u/o_trusted/.wh.zero
}

for order in lookup-first readdir-first; do
	test_expect_success "a name readdir does not list fails lookup ($order)" '
	fresh && 	mklayers_agree && pair_setup 3 &&
		candidate_paths L/0 L/1 L/2 L/u >paths &&
		lfs_mount "$LF" f/u f/m &&
		test_when_finished "test_umount_all" &&
		names_agree f/m '"$order"' paths &&
		test_must_fail grep -E "(^|/)\.wh\." listed &&
		test_must_fail grep -x -e orphan -e orphan2 -e t0 listed
	'
done

test_expect_success 'lookup and readdir agree after changes and remounts' '
	fresh && mklayers_agree && pair_setup 3 &&
	lfs_mount "$LF" f/u f/m &&
	test_when_finished "test_umount_all" &&
	rm -rf f/m/mrg f/m/o_fuse f/m/xw/kept f/m/o_aufs/one &&
	mkdir f/m/mrg f/m/o_fuse && echo new >f/m/o_fuse/new &&
	rm f/m/o_user/zero && mv f/m/o_trusted/one f/m/o_trusted/one.moved &&
	candidate_paths L/0 L/1 L/2 f/u >paths &&
	echo o_trusted/one.moved >>paths && echo o_fuse/new >>paths &&
	names_agree f/m lookup-first paths &&
	for order in lookup-first readdir-first readdir-first lookup-first; do
		lfs_umount f/m && lfs_mount "$LF" f/u f/m &&
		names_agree f/m $order paths &&
		test_must_fail grep -x -e "mrg/z" -e "mrg/two" -e "o_fuse/one" \
			-e "o_fuse/zero" -e "xw/kept" -e "o_aufs/one" listed &&
		grep -x "o_fuse/new" listed || return 1
	done
'

test_expect_success 'a 256-byte name gives ENAMETOOLONG, 255 bytes work' '
	fresh && mkdir -p L/0 && echo x >L/0/a && pair_setup 1 && pair_mount &&
	test_when_finished "pair_umount" &&
	n255=$(printf "%0255d" 0) && n256=$(printf "%0256d" 0) &&
	both fsop open $n256 creat,wronly && both fsop stat $n256 &&
	both fsop mkdir $n256 755 && both fsop symlink a $n256 &&
	both fsop link a $n256 && both fsop rename2 a $n256 &&
	both fsop mknod $n256 fifo 644 && both fsop stat a/$n256 &&
	both fsop open $n255 creat,wronly && both stat -c "%F %s" $n255 &&
	both fsop rename2 $n255 $n256 && cmp_out &&
	test "$(fsop stat f/m/$n256)" = ENAMETOOLONG &&
	test -f f/m/$n255 && test -f f/u/$n255 &&
	cmp_views
'

# deep_walk ROOT N CMD...: cd N levels down the chain of $long dirs below
# ROOT, then run CMD there.
long=$(printf "d%0199d" 0)
deep_walk() (
	cd "$1" || exit 1
	local n=$2 i
	shift 2
	for ((i = 0; i < n; i++)); do
		cd "$long" || exit 1
	done
	"$@"
)

# deep_make DIR N TEXT: a chain of N $long dirs below DIR, TEXT in a file
# at the bottom.
deep_make() (
	cd "$1" || exit 1
	local i
	for ((i = 0; i < $2; i++)); do
		mkdir "$long" && cd "$long" || exit 1
	done
	echo "$3" >file
)

test_expect_success 'a path longer than PATH_MAX works (lower and new)' '
	fresh && mkdir -p L/0 && pair_setup 1 &&
	deep_make f/0 30 "deep L/0" && deep_make k/0 30 "deep L/0" &&
	pair_mount &&
	test_when_finished "pair_umount" &&
	echo "deep L/0" >expect &&
	deep_walk f/m 30 cat file >actual && test_cmp expect actual &&
	deep_walk f/m 30 sh -c "echo appended >>file" &&
	deep_walk k/m 30 sh -c "echo appended >>file" &&
	deep_walk f/m 30 stat -c "%A %s" file >actual &&
	deep_walk k/m 30 stat -c "%A %s" file >expect &&
	test_cmp expect actual &&
	deep_walk f/u 30 cat file >actual &&
	printf "deep L/0\nappended\n" >expect && test_cmp expect actual &&
	mkdir f/m/new && deep_make f/m/new 30 "deep f/m/new" &&
	deep_walk f/m/new 30 cat file >actual &&
	echo "deep f/m/new" >expect && test_cmp expect actual &&
	pair_umount && pair_mount &&
	deep_walk f/m/new 30 cat file >actual && test_cmp expect actual &&
	deep_walk f/m 30 cat file >actual &&
	printf "deep L/0\nappended\n" >expect && test_cmp expect actual
'

test_expect_success 'a read-only mount gives EROFS for every change' '
	fresh && mkdir -p L/0/d L/0/e L/1/d && echo x >L/0/a && echo y >L/1/d/b &&
	ln -s a L/0/s && mkfifo L/0/p &&
	pair_setup 2 &&
	kovl_mount "$LK" "" "" k/m && lfs_mount_ro "$LF" f/m &&
	test_when_finished "test_umount_all" &&
	for op in "open a wronly" "open a rdwr" "open a rdonly,trunc" \
		"open new creat,wronly" "open d/b wronly,append" \
		"unlink a" "unlink d/b" "rmdir e" "mkdir new 755" \
		"rename2 a b2" "rename2 d/b d/c noreplace" "rename2 a d exchange" \
		"link a a2" "symlink a s2" "mknod f2 fifo 644" "truncate a 0" \
		"chmod a 600" "chmod d 700" "setxattr a user.x 1" \
		"removexattr a user.x"; do
		# shellcheck disable=SC2086
		echo "$op: $(cd k/m && fsop $op)" >>k.out &&
		# shellcheck disable=SC2086
		echo "$op: $(cd f/m && fsop $op)" >>f.out || return 1
	done &&
	both touch -d @1 a && both touch -h -d @1 s && both chown 1:1 a &&
	cmp_out &&
	test_must_fail grep -v "EROFS\|Read-only file system" f.out &&
	cmp_views
'

test_expect_success 'mount -o ro with an upper layer gives EROFS too' '
	fresh && mkdir -p L/0 && echo x >L/0/a && pair_setup 1 &&
	kovl_mount "$LK" k/u k/w k/m ro &&
	test_when_finished "test_umount_all" &&
	lfs_mount -o ro "$LF" f/u f/m &&
	both fsop open a wronly && both fsop open new creat,wronly &&
	both fsop unlink a && both fsop chmod a 600 && cmp_out &&
	grep -c EROFS f.out >count && echo 4 >expect && test_cmp expect count &&
	find f/u -mindepth 1 >found && test_must_fail test -s found
'

# The daemon keeps one data descriptor per file read, at most a quarter
# of its RLIMIT_NOFILE: reading more files than that, from two readers
# at once while a writer appends, closes the oldest idle ones.
append_more() { # DIR: appends a line to 50 files of DIR/a
	local i
	for i in $(seq 1 50); do echo more >>"$1/a/1$i" || return 1; done
}

test_expect_success 'reading more files than the daemon keeps descriptors for' '
	fresh && mkdir -p L/0 f/u f/m &&
	test_when_finished "test_umount_all" &&
	for d in a b c; do
		mkdir L/0/$d && (cd L/0/$d && seq 1 2200 | xargs touch) &&
		for f in L/0/$d/*; do echo "$f" >"$f" || return 1; done
	done &&
	cp -a L/0 expect.d && append_more expect.d &&
	lfs_mount L/0 f/u f/m &&
	pid=$(lfs_daemon_pids f/m | cut -d" " -f1) &&
	soft=$(awk "/Max open files/ { print \$4 }" /proc/$pid/limits) &&
	(cd L/0 && find . -type f | sort) >list || return 1
	append_more f/m &
	writer=$!
	(cd f/m && xargs -P2 -n500 cat <../../list >/dev/null) &&
	(cd f/m && xargs -P2 -n500 cat <../../list >/dev/null) &&
	wait $writer &&
	n=$(ls /proc/$pid/fd | wc -l) &&
	echo "daemon fds: $n, RLIMIT_NOFILE $soft" &&
	test "$n" -le $((soft / 4 + 200)) &&
	(cd expect.d && xargs cat <../list) >expect &&
	(cd f/m && xargs cat <../../list) >actual &&
	test_cmp expect actual
'

test_done
