#!/bin/bash
# shellcheck disable=SC2016 # test bodies are single-quoted on purpose
# shellcheck disable=SC2317 # functions are called from eval'd bodies
# shellcheck disable=SC2015 # "A && B || C" is the test-chain idiom
# shellcheck disable=SC2034 # test_description is read by test-lib.sh

test_description='the command line: its forms, the checks of a bad command
line, daemonizing, the container-engine and mount(8) forms, the default
work dir, read-only mounts and rootless use'

. "$(dirname "$0")/test-lib.sh"
test_skip_unless_root
test_need_layerfs
[ -x "$HELPER_DIR/fsop" ] || skip_all "test helper fsop is not built ($HELPER_DIR)"

# The scratch dir, symlinks resolved: messages may name real paths.
T=$(pwd -P)
# Command output; left out of the snapshots of the scratch dir.
OUT=$T/.out
mkdir "$OUT" || exit 1

# --- helpers --------------------------------------------------------------

# A listing of the scratch dir: name, type, mode, size, mtime (a directory
# where something was created and removed again shows a new mtime).
snapshot() {
	find "$T" -path "$OUT" -prune -o -printf '%P %y %m %s %T@\n' |
		LC_ALL=C sort
}

# FUSE mounts below the scratch dir.
fuse_mounts() {
	awk -v t="$T/" 'index($2, t) == 1 && $3 ~ /^fuse/ { print $2 }' \
		/proc/mounts
}

unmount_strays() {
	local m
	for m in $(fuse_mounts); do
		fusermount3 -u "$m" || umount -l "$m"
	done
}

# refused WANT CMD...: CMD fails (not by a signal) with exactly one line on
# stderr that names WANT (a path as given or as resolved, or an option;
# empty: no check) and gives a reason, mounts nothing and leaves the
# scratch dir as it was.
refused() {
	local want=$1 before after rc line reason bad=0 m n
	shift
	before=$(snapshot) || return 1
	echo "+ $*"
	"$@" >"$OUT/stdout" 2>"$OUT/stderr" </dev/null 3>&- 7>&-
	rc=$?
	after=$(snapshot)
	sed 's/^/stderr: /' "$OUT/stderr"
	sed 's/^/stdout: /' "$OUT/stdout"
	if [ $rc = 0 ] || [ $rc -ge 126 ]; then
		echo "refused: exit status $rc, wanted a failure"
		bad=1
	fi
	n=$(wc -l <"$OUT/stderr")
	if [ "$n" != 1 ] || [ -n "$(tail -c 1 "$OUT/stderr")" ]; then
		echo "refused: $n line(s) on stderr, wanted exactly one"
		bad=1
	fi
	line=$(head -n 1 "$OUT/stderr")
	if [ -n "$want" ] &&
		! [[ $line =~ (^|[^[:alnum:]_.-])"$want"([^[:alnum:]_./-]|$) ]]; then
		echo "refused: the message does not name '$want'"
		bad=1
	fi
	reason=${line/"$want"/}
	reason=${reason#layerfs: }
	reason=${reason#mount: }
	if ! [[ $reason =~ [[:alpha:]]{3,} ]]; then
		echo "refused: the message gives no reason"
		bad=1
	fi
	m=$(fuse_mounts)
	if [ -n "$m" ]; then
		echo "refused: something got mounted: $m"
		unmount_strays
		bad=1
	fi
	if [ "$before" != "$after" ]; then
		echo "refused: the scratch dir changed:"
		diff <(echo "$before") <(echo "$after")
		bad=1
	fi
	return $bad
}

# Pids of processes started with LFS_TEST_MOUNT_TAG=$1.
tag_pids() {
	grep -lzxF "LFS_TEST_MOUNT_TAG=$1" /proc/[0-9]*/environ 2>/dev/null |
		sed -n 's,^/proc/\([0-9]*\)/environ$,\1,p'
}

alive() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	case ${s%% *} in Z | X | x) return 1 ;; esac
}

# wait_gone SECONDS PID...: all PIDs exit within SECONDS.
wait_gone() {
	local t=$1 i p left
	shift
	for ((i = 0; i <= t * 20; i++)); do
		left=
		for p in "$@"; do
			alive "$p" && left="$left $p"
		done
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	echo "still running after ${t}s:$left"
	return 1
}

is_mounted() {
	awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# Mounts made without lfs_mount: "dm_register MNT" (MNT relative to $T)
# sets DM_TAG for the next mount on MNT (run it as LFS_TEST_MOUNT_TAG=$DM_TAG
# ...) and has MNT unmounted and its daemon waited for after the test.
_dm_seq=0
dm_register() {
	_dm_seq=$((_dm_seq + 1))
	DM_TAG=t0100.$$.$_dm_seq
	test_when_finished "dm_cleanup '$T/$1' '$DM_TAG'"
}

dm_cleanup() {
	local mnt=$1 pids bad=0
	pids=$(tag_pids "$2")
	if is_mounted "$mnt"; then
		fusermount3 -u "$mnt" || umount "$mnt" || {
			umount -l "$mnt"
			bad=1
		}
	fi
	# shellcheck disable=SC2086
	wait_gone 10 $pids || {
		kill -KILL $pids
		bad=1
	}
	return $bad
}

# dm_pid: the one daemon of the last registered mount, into DM_PID.
dm_pid() {
	DM_PID=$(tag_pids "$DM_TAG" | paste -sd " ")
	[ -n "$DM_PID" ] && [ "$(echo "$DM_PID" | wc -w)" = 1 ] || {
		echo "daemon pids of $DM_TAG: '$DM_PID', wanted one"
		return 1
	}
}

# dm_umount MNT: fusermount3 -u; the daemon $DM_PID exits within 10 s.
dm_umount() {
	echo "+ fusermount3 -u $1"
	fusermount3 -u "$1" && wait_gone 10 "$DM_PID" &&
		! is_mounted "$T/$1"
}

# mklayout DIR: DIR/{low,low2,up,wk,mnt} with a file in each layer.
mklayout() {
	mkdir "$1" "$1/low" "$1/low2" "$1/up" "$1/wk" "$1/mnt" &&
		echo low >"$1/low/f" && echo low2 >"$1/low2/g" &&
		echo up >"$1/up/u"
}

# mount_line ABSMNT: "SOURCE TYPE OPTIONS" from /proc/mounts.
mount_line() {
	awk -v m="$1" '$2 == m { print $1, $3, $4 }' /proc/mounts
}

# --- commands, help, version ----------------------------------------------

test_expect_success '--version prints the version, exit 0' '
	"$LAYERFS" --version >out 2>err &&
	cat out err &&
	grep -q "^layerfs version [0-9]" out &&
	test_must_fail test -s err
'

test_expect_success '--help and mount --help print usage, exit 0' '
	"$LAYERFS" --help >out 2>err &&
	grep -q "^usage: layerfs" out &&
	grep -q "mount" out &&
	test_must_fail test -s err &&
	"$LAYERFS" mount --help >out 2>err &&
	grep -q "^usage: layerfs mount" out &&
	grep -q "lowerdir=" out &&
	test_must_fail test -s err
'

test_expect_success 'unknown command: one line naming it' '
	refused frobnicate "$LAYERFS" frobnicate
'

test_expect_success 'unknown option: one line naming it' '
	refused --frobnicate "$LAYERFS" --frobnicate &&
	refused --frobnicate "$LAYERFS" mount --frobnicate &&
	mklayout o1 &&
	refused --frobnicate "$LAYERFS" mount --frobnicate o1/low o1/up o1/mnt
'

# --- a bad command line: one line, nothing mounted, nothing created -------

test_expect_success 'missing lower' '
	mklayout b1 &&
	refused b1/nolower "$LAYERFS" mount b1/nolower b1/up b1/mnt &&
	refused b1/nolower "$LAYERFS" mount b1/low:b1/nolower b1/up b1/mnt
'

test_expect_success 'lower that is a file' '
	mklayout b2 && echo x >b2/file &&
	refused b2/file "$LAYERFS" mount b2/file b2/up b2/mnt
'

test_expect_success 'missing upper' '
	mklayout b3 &&
	refused b3/noupper "$LAYERFS" mount b3/low b3/noupper b3/mnt
'

test_expect_success 'missing mount point' '
	mklayout b4 &&
	refused b4/nomnt "$LAYERFS" mount b4/low b4/up b4/nomnt
'

test_expect_success 'upper inside a lower' '
	mklayout b5 && mkdir b5/low/up &&
	refused b5/low/up "$LAYERFS" mount b5/low b5/low/up b5/mnt
'

test_expect_success 'lower inside upper' '
	mklayout b6 && mkdir b6/up/low &&
	refused b6/up/low "$LAYERFS" mount b6/up/low b6/up b6/mnt
'

test_expect_success 'upper inside the mount point' '
	mklayout b7 && mkdir b7/mnt/up &&
	refused b7/mnt/up "$LAYERFS" mount b7/low b7/mnt/up b7/mnt
'

test_expect_success 'workdir inside upper' '
	mklayout b8 && mkdir b8/up/wk &&
	refused b8/up/wk "$LAYERFS" mount -o workdir=b8/up/wk b8/low b8/up b8/mnt
'

test_expect_success 'workdir inside a lower' '
	mklayout b9 && mkdir b9/low/wk &&
	refused b9/low/wk "$LAYERFS" mount -o workdir=b9/low/wk b9/low b9/up b9/mnt
'

test_expect_success 'the same directory twice as lowers' '
	mklayout b10 &&
	refused b10/low "$LAYERFS" mount b10/low:b10/low b10/up b10/mnt &&
	ln -s low b10/alias &&
	refused b10/alias "$LAYERFS" mount b10/low:b10/alias b10/up b10/mnt
'

test_expect_success 'upper == a lower' '
	mklayout b11 &&
	refused b11/low "$LAYERFS" mount b11/low2:b11/low b11/low b11/mnt
'

test_expect_success 'upper and workdir on different filesystems' '
	mklayout b12 && mkdir b12/tmp &&
	mount -t tmpfs -o size=1m lfstmp b12/tmp &&
	test_when_finished "umount $T/b12/tmp" &&
	refused b12/tmp/wk "$LAYERFS" mount -o workdir=b12/tmp/wk b12/low b12/up b12/mnt &&
	mkdir b12/tmp/wk2 &&
	refused b12/tmp/wk2 "$LAYERFS" mount -o workdir=b12/tmp/wk2 b12/low b12/up b12/mnt
'

test_expect_success 'a non-empty foreign workdir' '
	mklayout b13 && echo mine >b13/wk/junk &&
	refused b13/wk "$LAYERFS" mount -o workdir=b13/wk b13/low b13/up b13/mnt &&
	echo mine >expect && test_cmp expect b13/wk/junk
'

test_expect_success 'a leftover work/incompat/volatile marker' '
	mklayout b14 && mkdir -p b14/wk/work/incompat/volatile &&
	refused b14/wk/work/incompat/volatile \
		"$LAYERFS" mount -o workdir=b14/wk b14/low b14/up b14/mnt &&
	refused b14/wk/work/incompat/volatile \
		"$LAYERFS" mount -o workdir=b14/wk,volatile b14/low b14/up b14/mnt
'

test_expect_success 'an empty element in lowerdir (a::b)' '
	mklayout b15 &&
	refused b15/low::b15/low2 "$LAYERFS" mount b15/low::b15/low2 b15/up b15/mnt &&
	refused b15/low::b15/low2 "$LAYERFS" \
		-o lowerdir=b15/low::b15/low2,upperdir=b15/up,workdir=b15/wk b15/mnt
'

test_expect_success 'unknown -o option' '
	mklayout b16 &&
	refused frobnicate "$LAYERFS" mount -o frobnicate b16/low b16/up b16/mnt &&
	refused frobnicate "$LAYERFS" -o lowerdir=b16/low,frobnicate=1 b16/mnt
'

test_expect_success 'a wrong number of arguments' '
	mklayout b17 &&
	refused "" "$LAYERFS" mount b17/low &&
	refused "" "$LAYERFS" mount b17/low b17/low2 b17/up b17/mnt &&
	refused "" "$LAYERFS" -o lowerdir=b17/low &&
	refused "" "$LAYERFS" -o lowerdir=b17/low b17/up b17/wk b17/mnt
'

test_expect_success '-o timeout=abc and -o timeout=-1 are refused' '
	mklayout b18 &&
	refused timeout=abc "$LAYERFS" mount -o timeout=abc b18/low b18/up b18/mnt &&
	refused timeout=-1 "$LAYERFS" mount -o timeout=-1 b18/low b18/up b18/mnt
'

# --- daemonizing ------------------------------------------------------------

test_expect_success 'mount returns when the mount is live; daemon stdio is /dev/null' '
	mklayout d1 && dm_register d1/mnt &&
	LFS_TEST_MOUNT_TAG=$DM_TAG "$LAYERFS" mount -o workdir=d1/wk \
		d1/low d1/up d1/mnt </dev/null 3>&- 7>&- &&
	stat d1/mnt/f && echo low >expect && test_cmp expect d1/mnt/f &&
	dm_pid &&
	for fd in 0 1 2; do
		l=$(readlink /proc/$DM_PID/fd/$fd) &&
		echo "daemon fd $fd: $l" &&
		test "$l" = /dev/null || return 1
	done &&
	dm_umount d1/mnt
'

test_expect_success 'the caller'\''s stderr pipe gets EOF promptly' '
	mklayout d2 && dm_register d2/mnt &&
	start=$(date +%s) &&
	{
		LFS_TEST_MOUNT_TAG=$DM_TAG "$LAYERFS" mount -o workdir=d2/wk \
			d2/low d2/up d2/mnt </dev/null 3>&- 7>&- 2>&1
		echo "exit $?"
	} | timeout 10 cat >d2.out &&
	end=$(date +%s) && cat d2.out &&
	echo "exit 0" >expect && test_cmp expect d2.out &&
	test $((end - start)) -lt 5 &&
	cat d2/mnt/f && dm_pid && dm_umount d2/mnt
'

test_expect_success 'lfs_mount and lfs_umount: the daemon exits after fusermount3 -u' '
	mklayout d3 &&
	lfs_mount d3/low d3/up d3/mnt &&
	cat d3/mnt/f &&
	lfs_umount d3/mnt
'

test_expect_success 'umount(8) works too and the daemon exits' '
	mklayout d4 && dm_register d4/mnt &&
	LFS_TEST_MOUNT_TAG=$DM_TAG "$LAYERFS" mount -o workdir=d4/wk \
		d4/low d4/up d4/mnt </dev/null 3>&- 7>&- &&
	cat d4/mnt/f && dm_pid &&
	umount d4/mnt &&
	wait_gone 10 $DM_PID &&
	test_must_fail is_mounted "$T/d4/mnt"
'

# --- the container-engine form ----------------------------------------------

test_expect_success 'engine form: relative symlinked layers from another cwd' '
	mkdir -p e1/layers/real1 e1/layers/real2 e1/overlay/l e1/overlay/c/diff \
		e1/overlay/c/work e1/overlay/c/merged &&
	echo top >e1/layers/real1/f && echo bottom >e1/layers/real2/f &&
	echo two >e1/layers/real2/g &&
	ln -s ../../layers/real1 e1/overlay/l/L1 &&
	ln -s ../../layers/real2 e1/overlay/l/L2 &&
	dm_register e1/overlay/c/merged &&
	{
		(cd e1/overlay &&
			LFS_TEST_MOUNT_TAG=$DM_TAG exec "$LAYERFS" \
				-o lowerdir=l/L1:l/L2,upperdir=c/diff,workdir=c/work \
				c/merged) 2>&1 >/dev/null </dev/null 3>&- 7>&-
		echo "exit $?"
	} | timeout 10 cat >e1.out &&
	cat e1.out && echo "exit 0" >expect && test_cmp expect e1.out &&
	echo top >expect && test_cmp expect e1/overlay/c/merged/f &&
	echo two >expect && test_cmp expect e1/overlay/c/merged/g &&
	echo new >e1/overlay/c/merged/h &&
	test_path_is_file e1/overlay/c/diff/h &&
	test -L e1/overlay/l/L1 &&
	dm_pid && dm_umount e1/overlay/c/merged &&
	test_must_fail test -e e1/layers/real1/h
'

test_expect_success 'engine form: empty options' '
	mklayout e2 && dm_register e2/mnt &&
	LFS_TEST_MOUNT_TAG=$DM_TAG "$LAYERFS" \
		-o "lowerdir=$T/e2/low:$T/e2/low2,,upperdir=$T/e2/up,workdir=$T/e2/wk," \
		"$T/e2/mnt" </dev/null 3>&- 7>&- &&
	cat e2/mnt/f e2/mnt/g e2/mnt/u &&
	dm_pid && dm_umount e2/mnt
'

test_expect_success 'engine form: volatile marker while mounted, gone after a clean unmount' '
	mklayout e3 && dm_register e3/mnt &&
	LFS_TEST_MOUNT_TAG=$DM_TAG "$LAYERFS" \
		-o "lowerdir=$T/e3/low,upperdir=$T/e3/up,workdir=$T/e3/wk,,volatile" \
		"$T/e3/mnt" </dev/null 3>&- 7>&- &&
	test_path_is_dir e3/wk/work/incompat/volatile &&
	echo data >e3/mnt/new &&
	dm_pid && dm_umount e3/mnt &&
	test_path_is_file e3/up/new &&
	test_path_is_missing e3/wk/work/incompat/volatile
'

test_expect_success 'engine form: after a killed volatile daemon the next mount is refused' '
	mklayout e4 &&
	test_when_finished "test_umount_all" &&
	lfs_mount -o volatile,workdir=e4/wk e4/low e4/up e4/mnt &&
	echo data >e4/mnt/new &&
	lfs_kill e4/mnt &&
	lfs_umount e4/mnt &&
	test_path_is_dir e4/wk/work/incompat/volatile &&
	refused e4/wk/work/incompat/volatile "$LAYERFS" \
		-o "lowerdir=$T/e4/low,upperdir=$T/e4/up,workdir=$T/e4/wk,,volatile" \
		"$T/e4/mnt" &&
	refused e4/wk/work/incompat/volatile "$LAYERFS" \
		-o "lowerdir=$T/e4/low,upperdir=$T/e4/up,workdir=$T/e4/wk" \
		"$T/e4/mnt"
'

test_expect_success 'engine form: read-only without upperdir (writes give EROFS)' '
	mklayout e5 && dm_register e5/mnt &&
	before=$(find e5 -printf "%P %y %m %s %T@\n" | sort) &&
	LFS_TEST_MOUNT_TAG=$DM_TAG "$LAYERFS" -o "lowerdir=$T/e5/low:$T/e5/low2" \
		"$T/e5/mnt" </dev/null 3>&- 7>&- &&
	cat e5/mnt/f e5/mnt/g &&
	echo EROFS >expect &&
	fsop open e5/mnt/new wronly,creat 0644 >actual && test_cmp expect actual &&
	fsop open e5/mnt/f wronly >actual && test_cmp expect actual &&
	fsop unlink e5/mnt/f >actual && test_cmp expect actual &&
	fsop mkdir e5/mnt/d 0755 >actual && test_cmp expect actual &&
	dm_pid && dm_umount e5/mnt &&
	after=$(find e5 -printf "%P %y %m %s %T@\n" | sort) &&
	test_cmp <(echo "$before") <(echo "$after")
'

test_expect_success 'engine form: 300 lowers in one long option string' '
	mkdir -p e6/up e6/wk e6/mnt &&
	lowers= &&
	for i in $(seq -w 1 300); do
		d=e6/layers/a-rather-long-layer-directory-name-$i &&
		mkdir -p $d/diff && echo $i >$d/diff/f && echo $i >$d/diff/u$i &&
		lowers=$lowers${lowers:+:}$T/$d/diff || return 1
	done &&
	opts="lowerdir=$lowers,upperdir=$T/e6/up,workdir=$T/e6/wk" &&
	echo "option string: ${#opts} bytes" &&
	dm_register e6/mnt &&
	LFS_TEST_MOUNT_TAG=$DM_TAG "$LAYERFS" -o "$opts" "$T/e6/mnt" \
		</dev/null 3>&- 7>&- &&
	echo 001 >expect && test_cmp expect e6/mnt/f &&
	test "$(ls e6/mnt | grep -c "^u")" = 300 &&
	echo 300 >expect && test_cmp expect e6/mnt/u300 &&
	echo 150 >expect && test_cmp expect e6/mnt/u150 &&
	dm_pid && dm_umount e6/mnt
'

# --- mount.fuse3 and mount(8) -------------------------------------------------

test_expect_success 'mount.fuse3 form: layerfs SOURCE MOUNTPOINT -o rw,dev,suid,...' '
	mklayout f1 && dm_register f1/mnt &&
	LFS_TEST_MOUNT_TAG=$DM_TAG "$LAYERFS" mysource "$T/f1/mnt" \
		-o "rw,dev,suid,lowerdir=$T/f1/low:$T/f1/low2,upperdir=$T/f1/up,workdir=$T/f1/wk" \
		</dev/null 3>&- 7>&- &&
	mount_line "$T/f1/mnt" >line && cat line &&
	grep -q "^mysource fuse.layerfs rw" line &&
	cat f1/mnt/f f1/mnt/g f1/mnt/u && echo x >f1/mnt/x &&
	test_path_is_file f1/up/x &&
	dm_pid && dm_umount f1/mnt
'

# mount(8) drops PATH from the environment of its helpers (util-linux
# sanitize_env()), so the /bin/sh of mount.fuse3 looks "layerfs" up on
# dash's default path, whatever PATH the caller exports.  These tests put
# layerfs into /usr/local/sbin (on that default path) in a private mount
# namespace, mount, check and unmount in there.

# ns_mount SCRIPT: runs the bash SCRIPT in a private mount namespace with
# layerfs in /usr/local/sbin and first in PATH; $MNT is unmounted when
# SCRIPT ends.
# shellcheck disable=SC2097,SC2098 # T=$T etc. are passed on on purpose
ns_mount() {
	mkdir -p bin && ln -sf "$LAYERFS" bin/layerfs &&
	export -f alive wait_gone mount_line is_mounted tag_pids &&
	T=$T MNT=$MNT DM_TAG=$DM_TAG PATH=$T/bin:$PATH \
		unshare -m --propagation private bash -c '
		mount --bind "$T/bin" /usr/local/sbin || exit 1
		trap "is_mounted \"\$MNT\" && fusermount3 -u \"\$MNT\"" EXIT
		'"$1" </dev/null 3>&- 7>&-
}

test_expect_success 'mount -t fuse.layerfs LAYERFS MNT -o lowerdir=...,upperdir=...,workdir=...' '
	mklayout f2 && dm_register f2/mnt && MNT=$T/f2/mnt &&
	ns_mount "
		set -x
		LFS_TEST_MOUNT_TAG=\$DM_TAG mount -t fuse.layerfs layerfs \"\$MNT\" \
			-o \"lowerdir=\$T/f2/low:\$T/f2/low2,upperdir=\$T/f2/up,workdir=\$T/f2/wk\" &&
		mount_line \"\$MNT\" >\$T/f2.line && cat \$T/f2.line &&
		grep -q \"^layerfs fuse.layerfs \" \$T/f2.line &&
		cat \$MNT/f \$MNT/g && echo x >\$MNT/x &&
		pid=\$(tag_pids \$DM_TAG) && test -n \"\$pid\" &&
		fusermount3 -u \$MNT && wait_gone 10 \$pid
	" &&
	test_path_is_file f2/up/x
'

test_expect_success 'an fstab line: mount -T FSTAB MOUNTPOINT' '
	mklayout f3 && dm_register f3/mnt && MNT=$T/f3/mnt &&
	printf "%s\n" "# layerfs test fstab" \
		"layerfs $T/f3/mnt fuse.layerfs defaults,lowerdir=$T/f3/low:$T/f3/low2,upperdir=$T/f3/up,workdir=$T/f3/wk 0 0" \
		>fstab &&
	ns_mount "
		set -x
		LFS_TEST_MOUNT_TAG=\$DM_TAG mount -T \$T/fstab \$MNT &&
		mount_line \"\$MNT\" >\$T/f3.line && cat \$T/f3.line &&
		grep -q \"^layerfs fuse.layerfs \" \$T/f3.line &&
		cat \$MNT/f \$MNT/g \$MNT/u && echo y >\$MNT/y &&
		pid=\$(tag_pids \$DM_TAG) && test -n \"\$pid\" &&
		fusermount3 -u \$MNT && wait_gone 10 \$pid
	" &&
	test_path_is_file f3/up/y
'

# --- the default work dir -----------------------------------------------------

test_expect_success 'default work dir: .UPPER.layerfs-work beside UPPER, reused' '
	mkdir w1 w1/low w1/up w1/mnt && echo low >w1/low/f && echo old >w1/low/g &&
	dm_register w1/mnt &&
	LFS_TEST_MOUNT_TAG=$DM_TAG "$LAYERFS" mount w1/low w1/up w1/mnt \
		</dev/null 3>&- 7>&- &&
	test_path_is_dir w1/.up.layerfs-work &&
	ls -A w1/up >actual && test_cmp /dev/null actual &&
	echo new >w1/mnt/new && rm w1/mnt/g &&
	dm_pid && dm_umount w1/mnt &&
	printf "g\nnew\n" >expect && ls -A w1/up >actual && test_cmp expect actual &&
	ls -A w1 >actual && printf ".up.layerfs-work\nlow\nmnt\nup\n" >expect &&
	test_cmp expect actual &&
	dm_register w1/mnt &&
	LFS_TEST_MOUNT_TAG=$DM_TAG "$LAYERFS" mount w1/low w1/up w1/mnt \
		</dev/null 3>&- 7>&- &&
	echo new >expect && test_cmp expect w1/mnt/new &&
	test_path_is_missing w1/mnt/g &&
	dm_pid && dm_umount w1/mnt &&
	ls -A w1 >actual && printf ".up.layerfs-work\nlow\nmnt\nup\n" >expect &&
	test_cmp expect actual
'

# --- -o ro with an upper --------------------------------------------------------

test_expect_success '-o ro with an upper: upper visible read-only, EROFS, upper unchanged' '
	mklayout r1 && echo old >r1/up/f &&
	test_when_finished "test_umount_all" &&
	before=$(find r1/up -printf "%P %y %m %s %T@\n" | sort) &&
	lfs_mount -o ro r1/low r1/up r1/mnt &&
	mount_line "$T/r1/mnt" >line && cat line && grep -q " ro[,$]" line &&
	echo old >expect && test_cmp expect r1/mnt/f &&
	echo up >expect && test_cmp expect r1/mnt/u &&
	echo EROFS >expect &&
	fsop open r1/mnt/new wronly,creat 0644 >actual && test_cmp expect actual &&
	fsop open r1/mnt/u wronly,append >actual && test_cmp expect actual &&
	fsop unlink r1/mnt/u >actual && test_cmp expect actual &&
	fsop unlink r1/mnt/f >actual && test_cmp expect actual &&
	fsop mkdir r1/mnt/d 0755 >actual && test_cmp expect actual &&
	lfs_umount r1/mnt &&
	after=$(find r1/up -printf "%P %y %m %s %T@\n" | sort) &&
	test_cmp <(echo "$before") <(echo "$after")
'

# --- rootless -------------------------------------------------------------------

LFS_USER=lfstest
rootless_why=
if ! command -v setpriv >/dev/null && ! command -v su >/dev/null; then
	rootless_why="neither setpriv nor su"
elif ! id -u "$LFS_USER" >/dev/null 2>&1 &&
	! useradd --system --no-create-home --shell /bin/sh "$LFS_USER" \
		>/dev/null 2>&1; then
	rootless_why="cannot create the user $LFS_USER"
elif ! [ -u "$(command -v fusermount3)" ]; then
	rootless_why="fusermount3 is not setuid"
else
	kv=$(uname -r) && kmaj=${kv%%.*} && kmin=${kv#*.} && kmin=${kmin%%[!0-9]*}
	if [ "$kmaj" -lt 5 ] || { [ "$kmaj" = 5 ] && [ "$kmin" -lt 8 ]; }; then
		rootless_why="Linux $kv < 5.8: no unprivileged whiteouts"
	fi
fi
if [ -z "$rootless_why" ]; then
	LFS_UID=$(id -u "$LFS_USER") && LFS_GID=$(id -g "$LFS_USER") &&
		test_set_prereq ROOTLESS
else
	say "skipping the rootless test: $rootless_why"
fi

# as_user CMD...: CMD as $LFS_USER, environment kept.
as_user() {
	if command -v setpriv >/dev/null; then
		setpriv --reuid="$LFS_UID" --regid="$LFS_GID" --clear-groups -- "$@"
	else
		su -s /bin/sh "$LFS_USER" -c 'exec "$@"' -- sh "$@"
	fi
}

test_expect_success ROOTLESS 'rootless: whiteout, opaque dir and redirect in user.overlay.*' '
	mklayout u1 && mkdir -p u1/low/dir/sub u1/low/ren &&
	echo f >u1/low/dir/sub/f && echo x >u1/low/ren/x &&
	chown -R "$LFS_UID:$LFS_GID" u1 &&
	mode=$(stat -c %a /dev/fuse) &&
	test_when_finished "chmod $mode /dev/fuse" &&
	chmod 0666 /dev/fuse &&
	dm_register u1/mnt &&
	LFS_TEST_MOUNT_TAG=$DM_TAG as_user "$LAYERFS" mount -o workdir=u1/wk \
		u1/low u1/up u1/mnt </dev/null 3>&- 7>&- &&
	dm_pid && test "$(stat -c %u /proc/$DM_PID)" = "$LFS_UID" &&
	as_user sh -c "echo new >u1/mnt/new" &&
	as_user rm u1/mnt/f &&
	as_user rm -r u1/mnt/dir && as_user mkdir u1/mnt/dir &&
	as_user mv u1/mnt/ren u1/mnt/ren2 &&
	as_user ls -A u1/mnt/dir >actual && test_cmp /dev/null actual &&
	echo x >expect && as_user cat u1/mnt/ren2/x >actual && test_cmp expect actual &&
	as_user test ! -e u1/mnt/ren &&
	test_path_is_file u1/up/new &&
	test_is_whiteout u1/up/f &&
	test "$(stat -c %u u1/up/new)" = "$LFS_UID" &&
	getfattr -d -m - u1/up/dir u1/up/ren2 &&
	test "$(getfattr --only-values -n user.overlay.opaque u1/up/dir)" = y &&
	test_must_fail getfattr -n trusted.overlay.opaque u1/up/dir &&
	getfattr --only-values -n user.overlay.redirect u1/up/ren2 >actual &&
	grep -q "ren$" actual &&
	test_must_fail getfattr -n trusted.overlay.redirect u1/up/ren2 &&
	test_is_whiteout u1/up/ren &&
	echo "+ fusermount3 -u u1/mnt (as $LFS_USER)" &&
	as_user fusermount3 -u u1/mnt &&
	wait_gone 10 $DM_PID &&
	test_must_fail is_mounted "$T/u1/mnt"
'

# --- nothing left behind ----------------------------------------------------------

test_expect_success 'no mount and no daemon of this script is left' '
	m=$(fuse_mounts) && echo "mounts: $m" && test -z "$m" &&
	p=$(grep -lz "^LFS_TEST_MOUNT_TAG=t0100\.$$\." /proc/[0-9]*/environ 2>/dev/null || :) &&
	echo "daemons: $p" && test -z "$p"
'

test_done
