#!/bin/bash
# shellcheck disable=SC2016 # test bodies are single-quoted on purpose
test_description='copy-up: what is kept, when it happens, and that it is atomic

Each trigger runs on layerfs (f/m) and on kernel overlayfs (k/m, with
redirect_dir=on,index=on as layerfs keeps lower hard links) over identical
layers; the views, the uppers and the views after a remount must agree.'
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

if : >"$TRASH/capprobe" && setcap cap_net_raw+ep "$TRASH/capprobe" 2>/dev/null; then
	test_set_prereq SETCAP
fi
rm -f "$TRASH/capprobe"
if : >"$TRASH/aclprobe" && setfacl -m u:1234:r "$TRASH/aclprobe" 2>/dev/null; then
	test_set_prereq ACL
fi
rm -f "$TRASH/aclprobe"

# The lower objects every trigger works on: a chain of directories with
# their own modes, owners, times and xattrs, a setuid/setgid file with
# xattrs, an ACL and file capabilities, a symlink and a fifo with owners.
mklayers_meta() {
	mkdir -p L/0 L/1/d1/d2 L/0/d1 || return 1
	echo top >L/0/d1/top &&
		yes "lower data" | head -c 10000 >L/1/d1/d2/f &&
		chown 7:8 L/1/d1/d2/f && chmod 6755 L/1/d1/d2/f &&
		setfattr -n user.f -v file L/1/d1/d2/f &&
		setfattr -n user.bin -v 0x00ff00 L/1/d1/d2/f &&
		setfattr -n trusted.f -v tf L/1/d1/d2/f || return 1
	if test_have_prereq ACL; then
		setfacl -m u:1234:r-x,g:99:r-- L/1/d1/d2/f || return 1
	fi
	if test_have_prereq SETCAP; then
		setcap cap_net_raw+ep L/1/d1/d2/f || return 1
	fi
	echo other >L/1/d1/d2/g && chmod 1644 L/1/d1/d2/g &&
		ln -s f L/1/d1/d2/s && chown -h 9:10 L/1/d1/d2/s &&
		mkfifo -m 640 L/1/d1/d2/p && chown 1:2 L/1/d1/d2/p &&
		setfattr -n trusted.p -v fifo L/1/d1/d2/p &&
		chown 3:4 L/0/d1 && chmod 2750 L/0/d1 &&
		chown 20:20 L/1/d1 && chmod 700 L/1/d1 &&
		chown 5:6 L/1/d1/d2 && chmod 1777 L/1/d1/d2 &&
		setfattr -n user.d1 -v one L/0/d1 &&
		setfattr -n user.d1 -v lowest L/1/d1 &&
		setfattr -n user.d2 -v two L/1/d1/d2 &&
		touch -h -d @1234567890.123456789 L/1/d1/d2/f L/1/d1/d2/s \
			L/1/d1/d2/p L/1/d1/d2/g &&
		touch -d @1111111111.111111111 L/1/d1/d2 &&
		touch -d @1222222222.222222222 L/1/d1 &&
		touch -d @1333333333.333333333 L/0/d1
}

# snap ROOT PATH...: what programs see of each path: type, mode, owner,
# size, link count, mtime in ns (unless the path is listed in $NOTIME),
# every xattr but the overlay's own, the content or link target.
snap() {
	local root=$1 p t
	shift
	for p in "$@"; do
		if ! [ -e "$root/$p" ] && ! [ -L "$root/$p" ]; then
			echo "$p: missing"
			continue
		fi
		t=" %y"
		case " $NOTIME " in *" $p "*) t= ;; esac
		stat -c "%n %F %A %u %g %s$t" "$root/$p" | sed "s#^$root/##"
		[ -d "$root/$p" ] || stat -c "  nlink %h" "$root/$p"
		getfattr -h -d -m - -e hex --absolute-names "$root/$p" 2>&1 |
			grep -v -e "^# file" -e "^$" \
				-e "^trusted\.overlay\." -e "^user\.overlay\." |
			sed "s/^/  /"
		if [ -f "$root/$p" ] && ! [ -L "$root/$p" ]; then
			echo "  md5 $(md5sum <"$root/$p")"
		elif [ -L "$root/$p" ]; then
			echo "  -> $(readlink "$root/$p")"
		fi
	done
}

PATHS="d1 d1/top d1/d2 d1/d2/f d1/d2/g d1/d2/s d1/d2/p d1/d2/f.link d1/p.link"

# trigger CMDS: runs CMDS (a shell snippet, cwd the mount) on both mounts;
# compares the outputs, the views, the uppers (the parents copied up must
# carry the metadata of the topmost lower directory: L/0/d1, L/1/d1/d2),
# and the views after a remount.  No mtime is compared for the paths in
# $NOTIME.
trigger() {
	local cmds=$1
	fresh && mklayers_meta && pair_setup 2 && pair_mount $KOPTS || return 1
	both sh -c "$cmds" &&
		cmp_out &&
		snap k/m $PATHS >k.view && snap f/m $PATHS >f.view &&
		oracle_cmp "views after the trigger" k.view f.view &&
		snap k/u $PATHS >k.up && snap f/u $PATHS >f.up &&
		oracle_cmp "uppers after the trigger" k.up f.up &&
		for d in 0/d1 1/d1/d2; do
			t=" %y"
			case " $NOTIME " in *" ${d#?/} "*) t= ;; esac
			stat -c "%A %u %g$t" L/$d >expect &&
			stat -c "%A %u %g$t" f/u/${d#?/} >actual &&
			test_cmp expect actual &&
			getfattr -d L/$d | sed 1d >expect &&
			getfattr -d f/u/${d#?/} | sed 1d >actual &&
			test_cmp expect actual || return 1
		done &&
		cmp_uppers &&
		pair_remount $KOPTS &&
		snap k/m $PATHS >k.view2 && snap f/m $PATHS >f.view2 &&
		oracle_cmp "views after a remount" k.view2 f.view2 &&
		test_cmp f.view f.view2
}

test_expect_success 'copy-up on open for write (no truncation)' '
	test_when_finished "test_umount_all" &&
	NOTIME="d1/d2/f" &&
	trigger "printf X | dd of=d1/d2/f bs=1 seek=2 conv=notrunc status=none" &&
	grep "md5" f.view >/dev/null &&
	test "$(head -c 4 f/m/d1/d2/f)" = "loXe"
'

test_expect_success 'copy-up on open with O_TRUNC' '
	test_when_finished "test_umount_all" &&
	NOTIME="d1/d2/f" &&
	trigger ": >d1/d2/f" &&
	test "$(stat -c %s f/m/d1/d2/f)" = 0
'

test_expect_success 'copy-up on truncate(2)' '
	test_when_finished "test_umount_all" &&
	NOTIME="d1/d2/f d1/d2/g" &&
	trigger "truncate -s 5 d1/d2/f && truncate -s 20000 d1/d2/g" &&
	test "$(cat f/m/d1/d2/f)" = lower
'

test_expect_success 'copy-up on chmod (file, fifo, sticky file)' '
	test_when_finished "test_umount_all" &&
	NOTIME= &&
	trigger "chmod 4711 d1/d2/f && chmod 600 d1/d2/p && chmod 3640 d1/d2/g" &&
	test "$(stat -c %a f/m/d1/d2/f)" = 4711 &&
	test "$(stat -c %a f/m/d1/d2/g)" = 3640
'

test_expect_success 'copy-up on chown (file, fifo, symlink)' '
	test_when_finished "test_umount_all" &&
	NOTIME= &&
	trigger "chown 11:12 d1/d2/f && chown 13:14 d1/d2/p && chown -h 15:16 d1/d2/s" &&
	test "$(stat -c %u:%g f/m/d1/d2/f)" = 11:12 &&
	test "$(stat -c %u:%g f/m/d1/d2/s)" = 15:16
'

test_expect_success 'copy-up on utimes (file, fifo, and touch -h of a symlink)' '
	test_when_finished "test_umount_all" &&
	NOTIME= &&
	trigger "touch -d @1500000000.987654321 d1/d2/f &&
		touch -h -d @1500000001.5 d1/d2/p &&
		touch -h -d @1500000002.25 d1/d2/s" &&
	test "$(stat -c %y f/m/d1/d2/s)" = "$(stat -c %y f/u/d1/d2/s)" &&
	test "$(stat -c %Y f/m/d1/d2/s)" = 1500000002 &&
	test "$(stat -c %u:%g f/u/d1/d2/s)" = 9:10
'

test_expect_success 'copy-up on setxattr (file, fifo, symlink)' '
	test_when_finished "test_umount_all" &&
	NOTIME= &&
	trigger "setfattr -n user.new -v 1 d1/d2/f &&
		setfattr -n trusted.new -v 2 d1/d2/p &&
		setfattr -h -n trusted.new -v 3 d1/d2/s" &&
	test "$(getfattr --only-values -n user.new f/m/d1/d2/f)" = 1 &&
	test "$(getfattr --only-values -n user.f f/u/d1/d2/f)" = file
'

test_expect_success 'copy-up on link (file and fifo)' '
	test_when_finished "test_umount_all" &&
	NOTIME="d1 d1/d2" &&
	trigger "ln d1/d2/f d1/d2/f.link && ln d1/d2/p d1/p.link" &&
	test "$(stat -c %h:%i f/m/d1/d2/f)" = "$(stat -c %h:%i f/m/d1/d2/f.link)" &&
	test "$(stat -c %h f/m/d1/d2/f)" = 2
'

test_expect_success ACL 'POSIX ACLs survive copy-up (getfacl)' '
	test_when_finished "test_umount_all" &&
	fresh && mklayers_meta && pair_setup 2 && pair_mount $KOPTS &&
	both chmod 4755 d1/d2/f && both getfacl -n d1/d2/f && cmp_out &&
	getfacl -n L/1/d1/d2/f | sed 1d >lower.acl &&
	getfacl -n f/m/d1/d2/f | sed 1d >view.acl &&
	grep "user:1234:r-x" view.acl &&
	getfacl -n f/u/d1/d2/f | sed 1d >upper.acl &&
	test_cmp view.acl upper.acl &&
	both setfacl -m u:4321:rwx d1/d2/g && both getfacl -n d1/d2/g &&
	cmp_out
'

test_expect_success SETCAP 'file capabilities survive a metadata copy-up, as on the kernel' '
	test_when_finished "test_umount_all" &&
	fresh && mklayers_meta && pair_setup 2 && pair_mount $KOPTS &&
	both touch -d @1600000000 d1/d2/f && both getcap d1/d2/f &&
	both setfattr -n user.x -v 1 d1/d2/f && both getcap d1/d2/f &&
	cmp_out &&
	getcap f/m/d1/d2/f | grep cap_net_raw &&
	getcap f/u/d1/d2/f | grep cap_net_raw
'

test_expect_success 'a 64 MiB sparse file stays sparse and equal when copied up' '
	test_when_finished "test_umount_all" &&
	fresh && mkdir -p L/0 &&
	for s in a b; do
		truncate -s 64M L/0/$s &&
		for off in 0 17 40 63; do
			printf "block %s at %s MiB" $s $off |
			dd of=L/0/$s bs=1M seek=$off conv=notrunc status=none ||
			return 1
		done
	done &&
	pair_setup 1 && lfs_mount "$LF" f/u f/m &&
	chmod 600 f/m/a &&
	printf X | dd of=f/m/b bs=1 seek=$((30 << 20)) conv=notrunc status=none &&
	cmp L/0/a f/m/a && cmp L/0/a f/u/a &&
	test "$(stat -c %s f/u/a)" = $((64 << 20)) &&
	test "$(stat -c %s f/u/b)" = $((64 << 20)) &&
	du -k f/u/a f/u/b L/0/a &&
	test "$(du -k f/u/a | cut -f1)" -le 1024 &&
	test "$(du -k f/u/b | cut -f1)" -le 1024 &&
	test "$(stat -c %b f/m/a)" -le 2048 &&
	cp --sparse=always L/0/b expect.b &&
	printf X | dd of=expect.b bs=1 seek=$((30 << 20)) conv=notrunc status=none &&
	cmp expect.b f/m/b
'

# An fd opened read-only on a lower file before another process writes
# the file (and so copies it up) reads what was written, as on the kernel.
held_fd_reads() { # MNT
	exec 8<"$1/f" 9<"$1/g" &&
		head -c 4096 <&8 >/dev/null &&
		sh -c "yes new | head -c 8192 | dd of=$1/f conv=notrunc status=none" &&
		sh -c "echo rewritten >$1/g" &&
		echo "f: $(cat <&8 | md5sum)" &&
		echo "g: $(cat <&9)"
	local rc=$?
	exec 8<&- 9<&-
	return $rc
}

test_expect_success 'an fd opened before another process copies up sees new data' '
	test_when_finished "exec 8<&- 9<&-; test_umount_all" &&
	fresh && mkdir -p L/0 &&
	yes old | head -c 8192 >L/0/f && echo "old g" >L/0/g &&
	pair_setup 1 && pair_mount $KOPTS &&
	held_fd_reads k/m >k.out && held_fd_reads f/m >f.out &&
	cmp_out &&
	echo "g: rewritten" >expect && grep "^g:" f.out >actual &&
	test_cmp expect actual &&
	echo "f: $(yes new | head -c 8192 | tail -c 4096 | md5sum)" >expect &&
	grep "^f:" f.out >actual && test_cmp expect actual
'

# The kernel opens files without asking layerfs (no_open), so layerfs
# copies up at the first change: an open for writing that writes nothing
# leaves the upper alone, where the kernel's overlayfs copies up at open.
# What the mount shows is the same.
test_expect_success 'copy-up comes with the first write, not with an open for writing' '
	test_when_finished "exec 8<&- 9>&-; test_umount_all" &&
	fresh && mkdir -p L/0 &&
	echo lower >L/0/f && echo lower >L/0/g && echo lower >L/0/h &&
	pair_setup 1 && pair_mount $KOPTS &&
	fsop open k/m/h rdwr >k.out && fsop open f/m/h rdwr >f.out &&
	cmp_out && test -f k/u/h && test ! -e f/u/h &&
	exec 9>>f/m/f &&
	test ! -e f/u/f &&
	exec 8<f/m/f &&
	echo more >&9 &&
	test -f f/u/f &&
	printf "lower\nmore\n" >expect &&
	cat <&8 >actual && test_cmp expect actual &&
	cat f/m/f >actual && test_cmp expect actual &&
	cat f/u/f >actual && test_cmp expect actual &&
	: >f/m/g &&
	test -f f/u/g && test ! -s f/u/g && test ! -s f/m/g &&
	test "$(cat f/m/h)" = lower
'

# as_user CMD...: CMD as an unprivileged user (no CAP_FSETID).
as_user() {
	setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

test_expect_success 'a write, truncate or chown drops setuid and setgid, as on the kernel' '
	test_when_finished "test_umount_all" &&
	fresh && mkdir -p L/0 &&
	for f in w t c r; do
		echo data >L/0/$f && chmod 6777 L/0/$f || return 1
	done &&
	chmod 2757 L/0/r && chmod 777 L/0 &&
	pair_setup 1 && pair_mount $KOPTS &&
	for m in k/m f/m; do
		as_user sh -c "echo more >>$m/w" &&
			as_user truncate -s 2 $m/t && chown 1:1 $m/c &&
			as_user sh -c "echo more >>$m/r" || return 1
	done &&
	stat -c "%n %a %u" k/m/w k/m/t k/m/c k/m/r | sed s#k/m/## >k.out &&
	stat -c "%n %a %u" f/m/w f/m/t f/m/c f/m/r | sed s#f/m/## >f.out &&
	cmp_out &&
	grep "^w 777 " f.out && grep "^c 777 1" f.out &&
	pair_remount $KOPTS &&
	stat -c "%n %a %u" f/m/w f/m/t f/m/c f/m/r | sed s#f/m/## >f.out2 &&
	test_cmp f.out f.out2
'

# appender N FILE: appends N numbered records with O_APPEND.
appender() {
	local i
	for ((i = 0; i < $1; i++)); do
		echo "$3 record $i" >>"$2" || return 1
	done
}

test_expect_success 'concurrent O_APPEND writers and chmod during copy-up lose nothing' '
	test_when_finished "test_umount_all" &&
	fresh && mkdir -p L/0 &&
	for n in 1 2 3; do
		yes "lower line $n" | head -n 2000 >L/0/log$n || return 1
	done &&
	pair_setup 1 && lfs_mount "$LF" f/u f/m || return 1
	pids=
	for n in 1 2 3; do
		for w in a b c d; do
			appender 300 f/m/log$n $w &
			pids="$pids $!"
		done
		(for i in $(seq 50); do chmod 60$((i % 2 * 4)) f/m/log$n; cat f/m/log$n >/dev/null; done) &
		pids="$pids $!"
	done
	rc=0
	for p in $pids; do wait $p || rc=1; done
	test $rc = 0 &&
	for n in 1 2 3; do
		test "$(wc -l <f/m/log$n)" = 3200 &&
		test "$(grep -c "^lower line $n$" f/m/log$n)" = 2000 &&
		test "$(grep -c " record " f/m/log$n)" = 1200 &&
		test_must_fail grep -q -P "\\x00" f/m/log$n || return 1
	done &&
	cat f/m/log1 f/m/log2 f/m/log3 | md5sum >before &&
	lfs_umount f/m && lfs_mount "$LF" f/u f/m &&
	cat f/m/log1 f/m/log2 f/m/log3 | md5sum >after &&
	test_cmp before after
'

# Work-dir leftovers: anything in WORK/work, anything but work/ and
# index/ in WORK, any "#..." temp name in the upper.
work_is_clean() { # WORKDIR UPPER
	local left
	left=$(find "$1/work" -mindepth 1 -print
		find "$1" -mindepth 1 -maxdepth 1 ! -name work ! -name index -print
		find "$2" -name "#*" -print)
	[ -z "$left" ] && return 0
	echo "leftovers:"
	printf "%s\n" "$left"
	return 1
}

# crash_copy_up DELAY: appends to the 512 MiB lower file f/0/big, kills
# the daemon DELAY seconds after its copy-up has started, remounts.
crash_copy_up() {
	local delay=$1 pid i seen=
	lfs_mount f/0 f/u f/m || return 1
	pid=$(lfs_daemon_pids f/m | head -n 1)
	sh -c "echo x >>f/m/big" >append.log 2>&1 &
	local job=$!
	# the copy is an O_TMPFILE in the work dir while it is being made
	for ((i = 0; i < 1000; i++)); do
		if ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "u.work/work/"; then
			seen=1
			break
		fi
		kill -0 $job 2>/dev/null || break
		sleep 0.01
	done
	sleep "$delay"
	echo "copy-up in progress when killed: ${seen:-no}" \
		"(job alive: $(kill -0 $job 2>/dev/null && echo yes || echo no))"
	lfs_kill f/m KILL
	wait $job
	cat append.log
	lfs_umount f/m || return 1
	lfs_mount f/0 f/u f/m || return 1
	work_is_clean f/u.work f/u || return 1
	local size want=$((512 << 20))
	size=$(stat -c %s f/m/big) || return 1
	echo "size after the crash: $size"
	if [ "$size" = $want ]; then
		cmp f/0/big f/m/big || return 1
	elif [ "$size" = $((want + 2)) ]; then
		cmp -n $want f/0/big f/m/big &&
			test "$(tail -c 2 f/m/big)" = x || return 1
	else
		echo "partial file in the view: $size bytes"
		return 1
	fi
	if [ -e f/u/big ]; then
		test "$(stat -c %s f/u/big)" = "$size" || {
			echo "partial file in the upper: $(stat -c %s f/u/big)"
			return 1
		}
	fi
	lfs_umount f/m
}

test_expect_success 'a daemon killed during a 512 MiB copy-up leaves no partial file' '
	test_when_finished "test_umount_all" &&
	fresh && mkdir -p f/0 f/u f/m &&
	yes "0123456789abcdef" | head -c 512M >f/0/big &&
	crash_copy_up 0 &&
	rm -rf f/u f/u.work && mkdir f/u &&
	crash_copy_up 0.2
'

test_expect_success 'a new mount removes what a killed daemon left in the work dir' '
	test_when_finished "test_umount_all" &&
	fresh && mkdir -p L/0/d && echo x >L/0/d/a && mkfifo L/0/d/p &&
	pair_setup 1 && lfs_mount "$LF" f/u f/m &&
	chmod 600 f/m/d/a f/m/d/p && ln -s a f/m/d/s && mkdir f/m/d/n &&
	work_is_clean f/u.work f/u &&
	lfs_kill f/m KILL && lfs_umount f/m &&
	mkdir -p f/u.work/work/#lfs.1.1 && : >"f/u.work/work/#lfs.1.2" &&
	mknod "f/u.work/work/#lfs.1.3" c 0 0 &&
	lfs_mount "$LF" f/u f/m &&
	work_is_clean f/u.work f/u &&
	echo x >expect && cat f/m/d/a >actual && test_cmp expect actual
'

test_done
