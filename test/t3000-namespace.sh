#!/bin/bash
# shellcheck disable=SC2016 # test bodies are single-quoted on purpose
test_description='namespace: create, remove, rename, links, locks, xattrs, inodes

The same operations run on layerfs (f/m) and on kernel overlayfs (k/m,
redirect_dir=on,index=on: layerfs renames directories and keeps lower hard
links) over identical layers; outputs (errno names from fsop), views, upper
dirs and the views after a remount must agree.'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIR/lib-oracle.sh"
. "$TEST_DIR/lib-pair.sh"
test_skip_unless_root
test_need_layerfs
test_need_helpers
test_need_kovl
pair_need_fsop
export LC_ALL=C

KOPTS=redirect_dir=on,index=on

# op ARGS...: one fsop call, printed with its arguments.
op() {
	printf '%s: %s\n' "$*" "$(fsop "$@")"
}

# Two lowers and an upper with a bit of everything.
mklayers_ns() {
	mkdir -p L/0 L/1 L/u || return 1
	(
		cd L/1 &&
			echo a1 >a && echo b1 >b && echo c1 >c && echo gone1 >gone &&
			mkdir dl dl/sub e dm md ld ld/sub &&
			echo x >dl/x && echo y >dl/sub/y &&
			echo m1 >dm/m1 && echo low >md/low &&
			echo f >ld/f && echo g >ld/sub/g &&
			echo hl >hl1 && ln hl1 hl2 &&
			mkfifo p && ln -s a s &&
			setfattr -n user.y -v lowy a &&
			mkdir sg && chown 0:50 sg && chmod 2775 sg
	) && (
		cd L/0 &&
			mkdir dm md && echo m0 >dm/m0 && echo top >md/top &&
			echo c0 >c && mknod gone c 0 0 && echo t >t0
	) && (
		cd L/u &&
			echo u >u && echo u2 >u2 && mkdir ud dm && echo f >ud/f &&
			echo mu >dm/mu
	)
}

# setup: fresh layers, both mounted.
setup() {
	fresh && mklayers_ns && pair_setup 2 && pair_mount $KOPTS
}

# check_all: outputs, views, uppers, then the views after a remount.
check_all() {
	cmp_out && cmp_views && cmp_uppers &&
		pair_remount $KOPTS && cmp_views
}

ops_create() {
	op open new creat,wronly
	op open new creat,excl,wronly
	op open a creat,excl,wronly
	op open u creat,excl,wronly
	op open dm creat,excl,wronly
	op open gone creat,excl,wronly
	op open dl/new creat,excl,wronly
	op open e creat,wronly
	op open nodir/x creat,wronly
	op open s creat,excl,wronly
	op open a wronly,append
	echo 1 >>a && echo 2 >>a && echo 3 >>u && cat a u
	op open b rdonly,trunc
	cat b
}

test_expect_success 'create, O_EXCL and O_APPEND' '
	test_when_finished "test_umount_all" &&
	setup && both ops_create && check_all &&
	printf "a1\n1\n2\n" >expect && cat f/m/a >actual && test_cmp expect actual
'

ops_dirs() {
	op rmdir dl/sub
	op unlink dl/sub/y
	op rmdir dl/sub
	op rmdir e
	op rmdir dm
	rm dm/m0 dm/m1 dm/mu
	op rmdir dm
	op mkdir dm 755
	ls -A dm
	op rmdir u
	op rmdir ud
	op unlink ud/f
	op rmdir ud
	op mkdir ud 700
	op mkdir e 750
	op mkdir dl 755
	op rmdir md
	op rmdir nosuch
	rm -r md && op mkdir md 711 && ls -A md
	op mkdir sg/new 755
	op open sg/file creat,wronly
	op mkdir sg/new/deeper 700
	stat -c "%n %a %u %g" sg sg/new sg/file sg/new/deeper
}

test_expect_success 'mkdir and rmdir of lower, merged and upper directories' '
	test_when_finished "test_umount_all" &&
	setup && both ops_dirs && check_all &&
	test_is_opaque f/u/dm && test_is_opaque f/u/md &&
	test "$(ls -A f/m/dm)$(ls -A f/m/md)$(ls -A f/m/e)" = "" &&
	test "$(fsop stat f/m/dm/m1)" = ENOENT &&
	test "$(fsop stat f/m/md/low)" = ENOENT &&
	test "$(ls -A f/u/ud)" = "" &&
	pair_umount && lfs_mount "$LF" f/u f/m &&
	test "$(ls -A f/m/dm)$(ls -A f/m/md)" = "" &&
	test "$(fsop stat f/m/dm/m0)" = ENOENT
'

ops_unlink() {
	op unlink u
	op unlink a
	chmod 600 c && op unlink c
	echo x >new && op unlink new
	op unlink gone
	echo again >gone && op unlink gone
	op unlink dl/x
	op unlink ud/f
	op unlink dm
	op unlink nosuch
	op unlink t0
}

test_expect_success 'unlink leaves a whiteout only where a lower name exists' '
	test_when_finished "test_umount_all" &&
	setup && both ops_unlink && cmp_out && cmp_views && cmp_uppers &&
	test_path_is_missing f/u/u && test_path_is_missing f/u/new &&
	test_path_is_missing f/u/ud/f &&
	test_is_whiteout f/u/a && test_is_whiteout f/u/c &&
	test_is_whiteout f/u/dl/x && test_path_is_missing f/u/gone &&
	test_is_whiteout f/u/t0 &&
	pair_remount $KOPTS && cmp_views
'

# ops_rename FLAG: file renames between and within layers.
ops_rename() {
	local f=$1
	echo new >n && chmod 600 c
	op rename2 a t $f
	op rename2 t a $f
	op rename2 a b $f
	op rename2 u b $f
	op rename2 c gone $f
	op rename2 n s $f
	op rename2 z t $f
	op rename2 u2 e $f
	op rename2 e u2 $f
	op rename2 p dl/p $f
	op rename2 s ud/s $f
	op rename2 t0 t0 $f
	op rename2 hl1 dl/sub/hl $f
	op rename2 dm/m0 dm/mu $f
	op rename2 dm/m1 ud/f $f
	op rename2 ld/f md/top $f
	cat a b t ud/f md/top 2>&1
}

for flag in plain noreplace exchange; do
	test_expect_success "rename of files across layers ($flag)" '
		test_when_finished "test_umount_all" &&
		setup && both ops_rename '"${flag/plain/}"' && check_all &&
		test_must_fail grep EXDEV f.out
	'
done

# Directory renames: lower-only, merged, nested, back and forth.
ops_dirrename() {
	op rename2 dl dl2
	op rename2 md ud/md
	op rename2 dm dm2
	op mkdir dl 755
	op rename2 ld/sub ld/sub2
	op rename2 ld ld3
	op rename2 dm2 dm
	op rename2 dl2 e
	op rename2 ud/md md noreplace
	op rename2 dl ld3 exchange
	op rename2 md e exchange
	echo added >e/added
	find . -path ./e -prune -o -print | sort
	ls -AR e md ld3 dl
}

test_expect_success 'rename of lower and merged directories (no EXDEV)' '
	test_when_finished "test_umount_all" &&
	setup && both ops_dirrename && cmp_out && cmp_views &&
	{ grep -E "^(rename2|mkdir) " f.out | grep -v ": ok$" || :; } >bad &&
	test_must_fail test -s bad &&
	test_must_fail grep EXDEV f.out &&
	echo "x y" >expect && echo $(cat f/m/md/x f/m/md/sub/y) >actual &&
	test_cmp expect actual &&
	echo "m0 m1 mu" >expect && echo $(ls f/m/dm) >actual &&
	test_cmp expect actual &&
	pair_remount $KOPTS && cmp_views &&
	echo "x y" >expect && echo $(cat f/m/md/x f/m/md/sub/y) >actual &&
	test_cmp expect actual &&
	treedump f/m >f.remount &&
	pair_umount && mkdir -p x/w x/m &&
	kovl_mount "$LF" f/u x/w x/m redirect_dir=on &&
	treedump x/m >k-reads-f &&
	kovl_umount x/m &&
	oracle_cmp "layerfs upper read by the kernel" f.remount k-reads-f \
		layerfs kernel
'

ops_recreated() {
	rm -r dm && op mkdir dm 755 && echo n >dm/n
	op rename2 dm dm3
	ls -A dm3
	op mkdir dm 755
	ls -A dm
	rm -r md && op mkdir md 755 && op rename2 md ud/md
	ls -A ud/md
	op rename2 ud/md md
	ls -A md
}

test_expect_success 'a deleted and recreated directory stays empty when renamed' '
	test_when_finished "test_umount_all" &&
	setup && both ops_recreated && check_all &&
	echo n >expect && ls -A f/m/dm3 >actual && test_cmp expect actual &&
	test "$(ls -A f/m/dm)$(ls -A f/m/md)" = ""
'

ops_links() {
	op link a a.ln
	op link u u.ln
	op link dl/x dl/sub/x.ln
	op link dl dl.ln
	op link z zz
	op link a b
	op link p p.ln
	op link s s.ln
	op symlink target sl
	op readlink sl
	op readlink s
	op readlink a
	op symlink x b
	op symlink target gone
	op mknod fifo1 fifo 644
	op mknod sock1 sock 644
	op mknod chr1 chr 644 1 3
	op mknod wh0 chr 644 0 0
	op mknod b fifo 644
	op mkdir gone2 755
	stat -c "%n %F %a %h %t:%T" a a.ln u u.ln dl/x dl/sub/x.ln p p.ln \
		s s.ln sl fifo1 sock1 chr1 gone 2>&1
}

test_expect_success 'link, symlink, readlink, mknod fifo/socket/device' '
	test_when_finished "test_umount_all" &&
	setup && both ops_links && check_all
'

ops_nlink() {
	stat -c "%n %h %a" hl1 hl2
	chmod 600 hl1
	stat -c "%n %h %a" hl1 hl2
	ln hl2 hl3 && stat -c "%n %h" hl1 hl2 hl3
	rm hl1 && stat -c "%n %h" hl2 hl3
	echo more >>hl3 && cat hl2
	ln a a2 && ln a2 dl/a3 && stat -c "%n %h" a a2 dl/a3
	rm a && stat -c "%n %h" a2 dl/a3
	ln u u2b && rm u && stat -c "%n %h" u2b
}

# Names sharing an st_ino must number st_nlink (for the names below MNT).
links_consistent() { # MNT
	(cd "$1" && find . ! -type d -printf "%i %n %p\n") | sort -n >inos &&
		awk '{ n[$1]++; l[$1] = $2; p[$1] = p[$1] " " $3 }
			END { for (i in n) if (n[i] != l[i])
				print "ino " i ": nlink " l[i] ", names" p[i] }' \
			inos >bad &&
		if [ -s bad ]; then cat bad; return 1; fi
}

test_expect_success 'hard link counts, also for lower hard links and after a remount' '
	test_when_finished "test_umount_all" &&
	setup && links_consistent f/m &&
	both ops_nlink && cmp_out && cmp_views &&
	links_consistent f/m &&
	test "$(stat -c %i f/m/hl2)" = "$(stat -c %i f/m/hl3)" &&
	pair_remount $KOPTS && cmp_views &&
	both stat -c "%n %h %a" hl2 hl3 a2 dl/a3 u2b && cmp_out &&
	links_consistent f/m
'

ops_index_only() {
	echo more >>hl1 && rm hl1 && cat hl2
	stat -c "%n %h %s" hl2
}

# Copied up through hl1, which then goes: hl2 is a lower name with no
# upper alias left, its data only in the index entry (named by the lower
# inode's file handle).  Each side reads the other's upper over the
# lowers that upper was written over (a copy of them has other handles).
test_expect_success 'an indexed hard link with only lower names left, read by the other side' '
	test_when_finished "test_umount_all" &&
	setup && both ops_index_only && check_all &&
	printf "hl\nmore\nhl2 1 8\n" >expect && test_cmp expect f.out &&
	test_must_fail test -e f/u/hl2 &&
	treedump k/m >k.remount && treedump f/m >f.remount &&
	pair_umount && mkdir -p x/km x/fm &&
	kovl_mount "$LF" f/u "$(lfs_workdir f/u)" x/km $KOPTS &&
	treedump x/km >k-reads-f && kovl_umount x/km &&
	oracle_cmp "layerfs upper read by the kernel" f.remount k-reads-f \
		layerfs kernel &&
	lfs_mount -o workdir=k/w "$LK" k/u x/fm &&
	treedump x/fm >f-reads-k && lfs_umount x/fm &&
	oracle_cmp "kernel upper read by layerfs" k.remount f-reads-k
'

ops_unlinked() {
	chmod 644 c
	op unlinked u
	op unlinked c
	echo fresh >n && op unlinked n
	op unlinked hl1
	stat -c "%n %h" hl2
}

# The kernel shows nlink 1 for an unlinked file that was never copied up
# (it stats the lower file): a quirk not to copy, so "a" is checked alone.
test_expect_success 'an open unlinked file has nlink 0 and stays readable' '
	test_when_finished "test_umount_all" &&
	setup && both ops_unlinked && cmp_out &&
	grep "^unlinked u: nlink=0 size=2 read=2$" f.out &&
	grep "^unlinked c: nlink=0 size=3 read=3$" f.out &&
	grep "^unlinked hl1: nlink=1 size=3 read=3$" f.out &&
	test "$(fsop unlinked f/m/a)" = "nlink=0 size=3 read=3" &&
	fsop unlinked k/m/a &&
	cmp_views && cmp_uppers
'

test_expect_success 'statfs works and describes the upper file system' '
	test_when_finished "test_umount_all" &&
	setup && df -P f/m && df -i f/m &&
	stat -f -c "%S %b %l" k/m >expect &&
	stat -f -c "%S %b %l" f/m >actual && test_cmp expect actual &&
	stat -f -c "%S %b" f/u >expect &&
	stat -f -c "%S %b" f/m >actual && test_cmp expect actual
'

test_expect_success 'flock: locks conflict, also across a copy-up' '
	test_when_finished "test_umount_all" &&
	setup &&
	flock -n f/m/a true && flock -n -s f/m/u true &&
	rm -f locked stop || return 1
	flock -x f/m/a sh -c "touch locked; while ! test -e stop; do sleep 0.05; done" &
	holder=$!
	test_when_finished "touch stop; wait $holder" &&
	for i in $(seq 100); do test -e locked && break; sleep 0.05; done &&
	test -e locked &&
	test_expect_code 1 flock -n f/m/a true &&
	test_expect_code 1 flock -n -s f/m/a true &&
	chmod 600 f/m/a && test -f f/u/a &&
	test_expect_code 1 flock -n f/m/a true &&
	touch stop && wait $holder &&
	flock -n f/m/a true &&
	flock -n f/m/dl true
'

# fcntl (POSIX) record locks, through perl (struct flock of x86_64).
if [ "$(uname -m)" = x86_64 ] && perl -MFcntl -e 1 2>/dev/null; then
	test_set_prereq FCNTL_LOCKS
fi
# posix_lock FILE r|w [HOLD_UNTIL_FILE]: takes a lock on the whole file
# without waiting; prints "locked" or "busy"; with HOLD_UNTIL_FILE keeps
# it until that file exists.
posix_lock() {
	perl -MFcntl -e '
		my ($f, $t, $stop) = @ARGV;
		open(my $fh, $t eq "w" ? "+<" : "<", $f) or die "$f: $!";
		my $fl = pack("s s x4 q q i x4", $t eq "w" ? F_WRLCK : F_RDLCK, 0, 0, 0, 0);
		if (!fcntl($fh, F_SETLK, $fl)) { print "busy\n"; exit 0; }
		print "locked\n";
		if (defined $stop) {
			open(my $m, ">", "$stop.held"); close($m);
			select(undef, undef, undef, 0.05) until -e $stop;
		}' "$@"
}

test_expect_success FCNTL_LOCKS 'fcntl locks: conflict, also across a copy-up' '
	test_when_finished "test_umount_all" &&
	setup && rm -f pstop pstop.held &&
	test "$(posix_lock f/m/u w)" = locked &&
	test "$(posix_lock f/m/b r)" = locked || return 1
	posix_lock f/m/a r pstop >holder.out &
	holder=$!
	test_when_finished "touch pstop; wait $holder" &&
	for i in $(seq 100); do test -e pstop.held && break; sleep 0.05; done &&
	test -e pstop.held && test_path_is_missing f/u/a &&
	test "$(posix_lock f/m/a r)" = locked &&
	test "$(posix_lock f/m/a w)" = busy &&
	chmod 600 f/m/a && test -f f/u/a &&
	test "$(posix_lock f/m/a w)" = busy &&
	touch pstop && wait $holder &&
	test "$(posix_lock f/m/a w)" = locked
'

# Overlay-private xattr names: never listed, never readable, never
# settable or removable through the mount, under every prefix.  The
# kernel (without userxattr) hides only trusted.overlay.*: its getxattr
# answers for them are the oracle for every prefix.  (Since 6.7 the kernel
# accepts setxattr of trusted.overlay.X, storing it escaped as
# trusted.overlay.overlay.X; layerfs refuses instead, so set and remove are
# checked for refusal, not compared.)
PRIV_SUFFIXES="opaque origin redirect whiteout foo"
ops_private() {
	local t s n
	for t in px a c dm dl md2 newf; do
		for s in $PRIV_SUFFIXES; do
			for n in trusted.overlay.$s user.overlay.$s \
				user.fuseoverlayfs.$s; do
				echo "$t $s get: $(fsop getxattr $t $n)"
				[ "$MODE" = kernel ] && break
				echo "$t $s set: $(fsop setxattr $t $n y)"
				echo "$t $s remove: $(fsop removexattr $t $n)"
			done
		done
	done
}

mklayers_private() {
	mklayers_ns &&
		echo px >L/1/px && setfattr -n user.ok -v 1 L/1/px &&
		setfattr -n trusted.overlay.foo -v bar L/1/px &&
		setfattr -n user.overlay.foo -v bar L/1/px &&
		setfattr -n user.fuseoverlayfs.foo -v bar L/1/px &&
		setfattr -n user.fuseoverlayfs.origin -v /x L/1/px
}

# copy-up, new, renamed (redirect), recreated (opaque) objects.
private_setup() {
	fresh && mklayers_private && pair_setup 2 && pair_mount $KOPTS &&
		both chmod 600 c && both touch dl/newfile && both touch newf &&
		both mv md md2 && both rm -r dm && both mkdir dm && cmp_out
}

test_expect_success 'overlay-private xattrs are never listed, read, set or removed' '
	test_when_finished "test_umount_all" &&
	private_setup &&
	(cd f/m && MODE=layerfs ops_private) >f.priv.all &&
	sort f.priv.all | uniq -c |
		awk "\$1 != 3 { print \"answers differ by prefix: \" \$0 }" >bad &&
	if [ -s bad ]; then cat bad; return 1; fi &&
	{ grep -E ": (ok|y|/x|bar)$" f.priv.all || :; } >bad &&
	if [ -s bad ]; then echo "not refused:"; cat bad; return 1; fi &&
	: >k.out && : >f.out &&
	for t in px a c dm dl dl/newfile newf md2; do
		both fsop listxattr $t || return 1
	done &&
	grep -v -E "^user\.(overlay|fuseoverlayfs)\." k.out >k.list &&
	oracle_cmp "listxattr" k.list f.out &&
	test_must_fail grep -E "overlay|fuseoverlayfs" f.out &&
	grep -x user.ok f.out &&
	getfattr -d -m - f/m/dm f/m/md2 f/m >all.x &&
	test_must_fail grep -E "overlay|fuseoverlayfs" all.x &&
	getfattr -n user.fuseoverlayfs.foo f/1/px
'

test_expect_success 'getxattr of a private name answers as the kernel does' '
	test_when_finished "test_umount_all" &&
	private_setup &&
	(cd k/m && MODE=kernel ops_private) | sort -u >k.priv &&
	(cd f/m && MODE=layerfs ops_private) >f.priv.all &&
	grep " get: " f.priv.all | sort -u >f.priv &&
	oracle_cmp "getxattr answers (kernel: trusted.overlay.X)" k.priv f.priv
'

ops_xattr() {
	op setxattr a user.k v1
	op getxattr a user.k
	op getxattr a user.y
	op listxattr a
	op removexattr a user.y
	op removexattr a user.y
	op listxattr a
	op setxattr dl user.d dir
	op getxattr dl user.d
	op setxattr dm user.m merged
	op listxattr dm
	op removexattr dm user.m
	op getxattr dm user.m
	op setxattr u user.u up
	op listxattr u
	op getxattr b user.none
	op removexattr b user.none
	op setxattr p trusted.p fifo
	op getxattr p trusted.p
}

test_expect_success 'xattrs: get, set, list, remove' '
	test_when_finished "test_umount_all" &&
	setup && both ops_xattr && check_all
'

# ino_table MNT PATH...: "PATH INO" lines.
ino_table() {
	local m=$1 p
	shift
	for p in "$@"; do
		echo "$p $(stat -c %i "$m/$p")"
	done
}

# Unique within the mount: one st_ino per directory and per set of
# hard links.
inos_unique() { # MNT
	(cd "$1" && find . -printf "%i %y %n %p\n") | sort -n >inos &&
		awk '{ k = $1
			if ($2 == "d" || $3 == 1) { if (seen[k]++) print "shared ino " k ": " $4 }
			else if ((k in t) && t[k] != $2) print "shared ino " k ": " $4
			t[k] = $2 }' inos >bad &&
		if [ -s bad ]; then cat bad; return 1; fi
}

INO_PATHS="a c p s u dl dl/x dl/sub dm dm/m1 md ld ld/f hl1 hl2 e ud"

test_expect_success 'inode numbers: unique, kept at copy-up, rename and remount' '
	test_when_finished "test_umount_all" &&
	fresh && mklayers_ns && pair_setup 2 && lfs_mount "$LF" f/u f/m &&
	inos_unique f/m &&
	ino_table f/m $INO_PATHS >before &&
	chmod 600 f/m/a f/m/c f/m/hl1 && chmod 700 f/m/p && chown -h 1:1 f/m/s &&
	touch f/m/dl/sub/new f/m/dm/new && echo x >>f/m/ld/f &&
	setfattr -n user.x -v 1 f/m/e && chmod 700 f/m/md &&
	ino_table f/m $INO_PATHS >after && test_cmp before after &&
	inos_unique f/m &&
	lfs_umount f/m && lfs_mount "$LF" f/u f/m &&
	ino_table f/m $INO_PATHS >remount && test_cmp before remount &&
	echo new >f/m/newf && mkdir f/m/newd &&
	ino_table f/m newf newd >new1 &&
	mv f/m/dl f/m/dl2 && mv f/m/ld f/m/e/ld && mv f/m/a f/m/ud/a &&
	mv f/m/dm f/m/dm2 && mv f/m/newd f/m/md/newd &&
	ino_table f/m dl2 dl2/x dl2/sub e/ld e/ld/f ud/a dm2 dm2/m1 md/newd \
		>renamed &&
	sed -n "s/^dl /dl2 /p; s/^dl\/x /dl2\/x /p; s/^dl\/sub /dl2\/sub /p;
		s/^ld /e\/ld /p; s/^ld\/f /e\/ld\/f /p; s/^a /ud\/a /p;
		s/^dm /dm2 /p; s/^dm\/m1 /dm2\/m1 /p" before >expect &&
	sed -n "s/^newd /md\/newd /p" new1 >>expect &&
	sort expect >expect.s && sort renamed >renamed.s &&
	test_cmp expect.s renamed.s &&
	inos_unique f/m &&
	lfs_umount f/m && lfs_mount "$LF" f/u f/m &&
	ino_table f/m dl2 dl2/x dl2/sub e/ld e/ld/f ud/a dm2 dm2/m1 md/newd \
		| sort >renamed2 &&
	test_cmp renamed.s renamed2 &&
	ino_table f/m newf >new2 && grep newf new1 >new1f && test_cmp new1f new2 &&
	inos_unique f/m
'

test_done
