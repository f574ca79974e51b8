# shellcheck shell=bash
# shellcheck disable=SC2015 # "A && B || C" is the test-chain idiom
#
# test-lib.sh: a git-style TAP harness for layerfs tests.
#
# A test script looks like this:
#
#	#!/bin/bash
#	test_description='what this script covers'
#	. "$(dirname "$0")/test-lib.sh"
#	test_skip_unless_root
#	test_expect_success 'unlink of a lower file leaves a whiteout' '
#		mkdir lower upper mnt && echo x >lower/a &&
#		lfs_mount lower upper mnt &&
#		test_when_finished "lfs_umount mnt" &&
#		rm mnt/a &&
#		test_path_is_missing mnt/a &&
#		test_is_whiteout upper/a
#	'
#	test_done
#
# Each body is eval'd in the main shell (no subshell, no "set -e": chain the
# steps with &&), with cwd = $TRASH, stdin from /dev/null and its output
# captured; the output of a failing test is printed as TAP comments.
#
# Environment:
#   LFS_TEST_VERBOSE=1   show the output of every test (on stderr)  [-v]
#   LFS_TEST_KEEP=1      keep $TRASH of a failing script, print its path [-k]
#   LFS_TEST_TRACE=1     run bodies under "set -x"                  [-x]
#   LFS_TEST_IMMEDIATE=1 stop at the first failing test              [-i]
#   LFS_TEST_LAYERFS     binary to test instead of ../layerfs
#   LFS_TEST_HELPER_DIR  where treedump and randops are (test/helper)
#   LFS_UMOUNT_TIMEOUT   seconds lfs_umount waits for the daemon (10)
#   TMPDIR               where $TRASH is created (/tmp)
#
# Variables for tests: TEST_DIR (this directory), LAYERFS, HELPER_DIR (also
# put first in PATH), TRASH (fresh scratch directory, the cwd of each body),
# TEST_NAME (script name without .sh).

if [ -z "${BASH_VERSION:-}" ]; then
	echo "test-lib.sh: needs bash" >&2
	exit 1
fi

for _tl_arg in "$@"; do
	case $_tl_arg in
	-v | --verbose) LFS_TEST_VERBOSE=1 ;;
	-k | --keep) LFS_TEST_KEEP=1 ;;
	-x | --trace) LFS_TEST_TRACE=1 ;;
	-i | --immediate) LFS_TEST_IMMEDIATE=1 ;;
	*)
		echo "test-lib.sh: unknown option $_tl_arg" >&2
		exit 1
		;;
	esac
done
unset _tl_arg

TEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P) || exit 1
TEST_NAME=$(basename "$0" .sh)
LAYERFS=${LFS_TEST_LAYERFS:-$(cd "$TEST_DIR/.." && pwd -P)/layerfs}
HELPER_DIR=${LFS_TEST_HELPER_DIR:-$TEST_DIR/helper}
PATH=$HELPER_DIR:$PATH
export PATH
LFS_UMOUNT_TIMEOUT=${LFS_UMOUNT_TIMEOUT:-10}
# layerfs and the kernel must see the same umask in every test.
umask 022

_tl_count=0
_tl_fail=0
_tl_fixed=0
_tl_broken=0
_tl_done=
_tl_cleanup=
_tl_mount_seq=0
_tl_subshell=$BASH_SUBSHELL
_tl_prereqs=" "

_tl_root=$(mktemp -d "${TMPDIR:-/tmp}/layerfs-test.$TEST_NAME.XXXXXX") || {
	echo "Bail out! cannot create a scratch directory"
	exit 1
}
chmod 755 "$_tl_root"
TRASH=$_tl_root/trash
_tl_state=$_tl_root/state
_tl_out=$_tl_state/out
_tl_reg=$_tl_state/mounts
mkdir "$TRASH" "$_tl_state" && : >"$_tl_reg" || {
	echo "Bail out! cannot populate $_tl_root"
	exit 1
}
cd "$TRASH" || exit 1

# --- reporting ----------------------------------------------------------

# say MSG: a TAP comment, also from inside a test body.
say() {
	printf '# %s\n' "$*" >&3
}
exec 3>&1

_tl_bug() {
	echo "Bail out! test-lib: $*"
	exit 1
}

test_description() {
	test_description=$*
	say "$TEST_NAME: $*"
}

# Prints the body and its output as TAP comments.
_tl_show_failure() {
	printf '%s\n' "$1" | sed 's/^/#	/'
	if [ "${LFS_TEST_VERBOSE:-}" != 1 ] && [ -s "$_tl_out" ]; then
		echo "# output:"
		sed 's/^/# /' "$_tl_out"
	fi
}

# --- running tests ------------------------------------------------------

test_set_prereq() {
	_tl_prereqs="$_tl_prereqs$1 "
}

test_have_prereq() {
	local p
	for p in ${1//,/ }; do
		case $_tl_prereqs in
		*" $p "*) ;;
		*) return 1 ;;
		esac
	done
}

if [ "$(id -u)" = 0 ]; then
	test_set_prereq ROOT
fi

# test_when_finished CMD...: run CMD after the current test body, even if it
# failed; cleanups run last-registered first, and a failing one fails the test.
test_when_finished() {
	[ "$BASH_SUBSHELL" = "$_tl_subshell" ] ||
		_tl_bug "test_when_finished does nothing in a subshell"
	[ -n "${_tl_in_test:-}" ] ||
		_tl_bug "test_when_finished outside of a test"
	_tl_cleanup="{ $*
} || _tl_cleanup_failed=1
$_tl_cleanup"
}

# fd 7 is the output of the current test body; traces go there too, also
# when a body redirects its stderr.
exec 7>/dev/null
if [ "${LFS_TEST_TRACE:-}" = 1 ]; then
	BASH_XTRACEFD=7
fi

# Eval the body with its output sent to fd 7; returns its status.
_tl_eval() {
	local _tl_rc
	if [ "${LFS_TEST_TRACE:-}" = 1 ]; then
		set -x
	fi
	eval "$1"
	_tl_rc=$?
	{ set +x; } 2>/dev/null 7>/dev/null
	return $_tl_rc
}

# _tl_run BODY: run one test body with its cleanups; 0 iff both passed.
_tl_run() {
	local rc
	_tl_cleanup=
	_tl_cleanup_failed=0
	_tl_in_test=1
	: >"$_tl_out"
	if [ "${LFS_TEST_VERBOSE:-}" = 1 ]; then
		exec 7>&2
	else
		exec 7>>"$_tl_out"
	fi
	cd "$TRASH" || return 1
	_tl_eval "$1" </dev/null >&7 2>&7
	rc=$?
	if [ -n "$_tl_cleanup" ]; then
		eval "$_tl_cleanup" </dev/null >&7 2>&7
		[ "$_tl_cleanup_failed" = 0 ] || {
			echo "test_when_finished: a cleanup failed" >&7
			[ $rc = 0 ] && rc=1
		}
	fi
	exec 7>/dev/null
	cd "$TRASH" || rc=1
	_tl_in_test=
	_tl_cleanup=
	return $rc
}

# Parses [PREREQ] TITLE BODY into _tl_prq, _tl_title, _tl_body.
_tl_args() {
	case $# in
	2) _tl_prq='' _tl_title=$1 _tl_body=$2 ;;
	3) _tl_prq=$1 _tl_title=$2 _tl_body=$3 ;;
	*) _tl_bug "test_expect_*: wrong number of arguments ($#): $*" ;;
	esac
	_tl_count=$((_tl_count + 1))
	if [ -n "$_tl_prq" ] && ! test_have_prereq "$_tl_prq"; then
		echo "ok $_tl_count # skip $_tl_title (missing $_tl_prq)"
		return 1
	fi
}

test_expect_success() {
	_tl_args "$@" || return 0
	if _tl_run "$_tl_body"; then
		echo "ok $_tl_count - $_tl_title"
	else
		_tl_fail=$((_tl_fail + 1))
		echo "not ok $_tl_count - $_tl_title"
		_tl_show_failure "$_tl_body"
		if [ "${LFS_TEST_IMMEDIATE:-}" = 1 ]; then
			say "stopping at the first failure (-i)"
			test_done
		fi
	fi
}

# A known breakage: its failure does not fail the script.
test_expect_failure() {
	_tl_args "$@" || return 0
	if _tl_run "$_tl_body"; then
		_tl_fixed=$((_tl_fixed + 1))
		echo "ok $_tl_count - $_tl_title # TODO known breakage vanished"
	else
		_tl_broken=$((_tl_broken + 1))
		echo "not ok $_tl_count - $_tl_title # TODO known breakage"
	fi
}

test_done() {
	_tl_done=1
	echo "1..$_tl_count"
	[ "$_tl_fixed" = 0 ] || say "$_tl_fixed known breakage(s) vanished"
	[ "$_tl_broken" = 0 ] || say "still have $_tl_broken known breakage(s)"
	if [ "$_tl_fail" != 0 ]; then
		say "failed $_tl_fail among $_tl_count test(s)"
		exit 1
	fi
	exit 0
}

skip_all() {
	if [ "$_tl_count" = 0 ]; then
		_tl_done=1
		echo "1..0 # SKIP $*"
		exit 0
	fi
	say "skipping the remaining tests: $*"
	test_done
}

test_skip_unless_root() {
	[ "$(id -u)" = 0 ] || skip_all "needs root"
}

test_need_layerfs() {
	[ -x "$LAYERFS" ] || skip_all "layerfs is not built ($LAYERFS)"
	[ -c /dev/fuse ] || skip_all "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip_all "no fusermount3"
}

test_need_helpers() {
	local h
	for h in treedump randops; do
		[ -x "$HELPER_DIR/$h" ] ||
			skip_all "test helper $h is not built ($HELPER_DIR)"
	done
}

# Skips the script unless kernel overlayfs mounts here.
test_need_kovl() {
	local d=$_tl_state/kovl-probe
	mkdir -p "$d/l" "$d/u" "$d/w" "$d/m" &&
		mount -t overlay overlay \
			-o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" \
			2>/dev/null || skip_all "kernel overlayfs does not mount"
	umount "$d/m"
	rm -rf "$d"
}

# --- assertions ---------------------------------------------------------

# test_line_count N FILE: FILE has N lines (it is shown when not).
test_line_count() {
	local n
	n=$(wc -l <"$2")
	[ "$n" = "$1" ] && return 0
	echo "$2 has $n lines, wanted $1:" >&2
	cat "$2" >&2
	return 1
}

# test_must_fail CMD...: CMD must exit non-zero, but not die of a signal and
# not be "not found".
test_must_fail() {
	"$@"
	local rc=$?
	if [ $rc = 0 ]; then
		echo "test_must_fail: command succeeded: $*" >&2
		return 1
	elif [ $rc -gt 128 ] && [ $rc -le 192 ]; then
		echo "test_must_fail: died of signal $((rc - 128)): $*" >&2
		return 1
	elif [ $rc = 126 ] || [ $rc = 127 ]; then
		echo "test_must_fail: command not runnable: $*" >&2
		return 1
	fi
	return 0
}

# test_expect_code CODE CMD...
test_expect_code() {
	local want=$1 rc
	shift
	"$@"
	rc=$?
	[ "$rc" = "$want" ] && return 0
	echo "test_expect_code: exit code $rc, wanted $want: $*" >&2
	return 1
}

test_cmp() {
	[ $# = 2 ] || _tl_bug "test_cmp needs 2 arguments"
	diff -u -- "$1" "$2"
}

test_path_is_file() {
	[ -f "$1" ] && return 0
	echo "File $1 does not exist" >&2
	return 1
}

test_path_is_dir() {
	[ -d "$1" ] && return 0
	echo "Directory $1 does not exist" >&2
	return 1
}

test_path_is_missing() {
	[ ! -e "$1" ] && [ ! -L "$1" ] && return 0
	echo "Path exists: $1" >&2
	ls -ld -- "$1" >&2
	return 1
}

# test_is_whiteout PATH: PATH is a character device 0/0.
test_is_whiteout() {
	if [ -c "$1" ] && [ ! -L "$1" ] &&
		[ "$(stat -c %t:%T -- "$1")" = 0:0 ]; then
		return 0
	fi
	echo "Not a whiteout (char 0/0): $1" >&2
	ls -ld -- "$1" >&2
	return 1
}

# test_is_opaque DIR: DIR carries trusted.overlay.opaque=y.
test_is_opaque() {
	local v
	v=$(getfattr --absolute-names --only-values -n trusted.overlay.opaque \
		-- "$1" 2>/dev/null)
	[ -d "$1" ] && [ "$v" = y ] && return 0
	echo "Not an opaque directory: $1" >&2
	return 1
}

# --- mounts -------------------------------------------------------------
#
# Every mount made through these helpers is recorded in $_tl_reg, one line
#   KIND|ABSMNT|PIDS|CONN|BGPID|LOG
# (KIND lfs or kovl; PIDS "pid:starttime ..."; "-" for an empty field), so a
# mount made in a subshell is still cleaned up by the EXIT trap.

# Absolute path of $1 with its parent resolved, without stat()ing $1 itself
# (a dead FUSE mount point answers ENOTCONN).
_tl_abspath() {
	local d b
	d=$(dirname -- "$1") && b=$(basename -- "$1") &&
		d=$(cd -- "$d" && pwd -P) || return 1
	case $b in
	/) printf '%s\n' / ;;
	.) printf '%s\n' "$d" ;;
	*) printf '%s\n' "${d%/}/$b" ;;
	esac
}

# Escapes a path as /proc/self/mountinfo does.
_tl_mi_escape() {
	local s=$1
	s=${s//\\/\\134}
	s=${s// /\\040}
	s=${s//$'\t'/\\011}
	s=${s//$'\n'/\\012}
	printf '%s' "$s"
}

# _tl_mountinfo ABSPATH: prints "MAJ:MIN FSTYPE" of the topmost mount on
# ABSPATH; fails if nothing is mounted there.  Reads mountinfo only.
_tl_mountinfo() {
	local esc line found='' _id _par dev _root mp _rest tail mi
	esc=$(_tl_mi_escape "$1")
	# In one read(2), which the kernel makes consistent: read line by
	# line, the table can change between reads (other tests mount and
	# unmount meanwhile) and a line be lost or cut ("type ,").
	mi=$(cat /proc/self/mountinfo) || return 1
	while IFS= read -r line; do
		read -r _id _par dev _root mp _rest <<<"$line"
		[ "$mp" = "$esc" ] || continue
		tail=${line#* - }
		found="$dev ${tail%% *}"
	done <<<"$mi"
	[ -n "$found" ] && printf '%s\n' "$found"
}

_tl_is_mounted() {
	_tl_mountinfo "$1" >/dev/null
}

# Prints "pid:starttime" for a live pid; fails for dead ones and zombies.
_tl_pid_ident() {
	local s
	{ read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	case $1 in Z | X | x) return 1 ;; esac
	printf '%s\n' "${20}"
}

# _tl_alive PID:START: the very process recorded is still running.
_tl_alive() {
	local pid=${1%%:*} start=${1#*:} s
	s=$(_tl_pid_ident "$pid") || return 1
	[ "$s" = "$start" ]
}

# Pids whose environment holds LFS_TEST_MOUNT_TAG=$1, as "pid:start".
_tl_tagged_pids() {
	local f pid st
	grep -lzxF "LFS_TEST_MOUNT_TAG=$1" /proc/[0-9]*/environ 2>/dev/null |
		while IFS= read -r f; do
			pid=${f#/proc/}
			pid=${pid%/environ}
			st=$(_tl_pid_ident "$pid") &&
				printf '%s:%s\n' "$pid" "$st"
		done
}

# Fallback: pids holding /dev/fuse whose argv has the mount point $1 or $2.
_tl_fuse_pids() {
	local fd pid st arg
	for fd in /proc/[0-9]*/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = /dev/fuse ] || continue
		pid=${fd#/proc/}
		pid=${pid%%/*}
		while IFS= read -r -d '' arg; do
			if [ "$arg" = "$1" ] || [ "$arg" = "$2" ]; then
				st=$(_tl_pid_ident "$pid") &&
					printf '%s:%s\n' "$pid" "$st"
				break
			fi
		done <"/proc/$pid/cmdline"
	done 2>/dev/null | sort -u
}

_tl_reg_add() {
	printf '%s|%s|%s|%s|%s|%s\n' "$@" >>"$_tl_reg"
}

# Prints the registry line for ABSMNT (the last one if several).
_tl_reg_get() {
	local line
	line=$(grep -F -- "|$1|" "$_tl_reg" | tail -n 1)
	[ -n "$line" ] && printf '%s\n' "$line"
}

_tl_reg_del() {
	local tmp=$_tl_reg.tmp
	awk -F'|' -v m="$1" '$2 != m' "$_tl_reg" >"$tmp" && mv -f "$tmp" "$_tl_reg"
}

# lfs_workdir UPPER: the work dir lfs_mount uses for UPPER by default.
lfs_workdir() {
	printf '%s\n' "${1%/}.work"
}

# _tl_lfs_mount NPOS ARGS...: the common part of lfs_mount and lfs_mount_ro.
_tl_lfs_mount() {
	local npos=$1 fg='' opts='' have_wd='' a mnt abs tag log rc bgpid=- pids i
	local -a flags pos
	shift
	while [ $# -gt "$npos" ]; do
		case $1 in
		-o)
			[ $# -gt $((npos + 1)) ] || _tl_bug "lfs_mount: -o needs a value"
			opts=${opts:+$opts,}$2
			shift 2
			continue
			;;
		-o*) opts=${opts:+$opts,}${1#-o} ;;
		-f) fg=1 ;;
		-d)
			# -d implies -f: the mount command does not return
			fg=1
			flags+=(-d)
			;;
		*) flags+=("$1") ;;
		esac
		shift
	done
	[ $# = "$npos" ] || {
		echo "lfs_mount: wrong number of arguments" >&2
		return 1
	}
	pos=("$@")
	mnt=${pos[$((npos - 1))]}
	case ,$opts, in *,workdir=*) have_wd=1 ;; esac
	case ,$opts, in *,debug,*) fg=1 ;; esac
	if [ "$npos" = 3 ] && [ -z "$have_wd" ]; then
		a=$(lfs_workdir "${pos[1]}")
		mkdir -p -- "$a" || return 1
		opts=workdir=$a${opts:+,$opts}
	fi
	[ -n "$fg" ] && flags+=(-f)
	[ -n "$opts" ] && flags+=(-o "$opts")
	abs=$(_tl_abspath "$mnt") || {
		echo "lfs_mount: bad mount point $mnt" >&2
		return 1
	}
	_tl_mount_seq=$((_tl_mount_seq + 1))
	tag=$$.$_tl_mount_seq.$RANDOM
	log=$_tl_state/layerfs.$_tl_mount_seq.log
	# The daemon gets no fd of ours: an inherited TAP pipe would keep
	# prove waiting for as long as the daemon lives.
	echo "+ layerfs mount ${flags[*]}${flags[*]:+ }${pos[*]}  (log: $log)" >&2
	if [ -n "$fg" ]; then
		LFS_TEST_MOUNT_TAG=$tag "$LAYERFS" mount "${flags[@]}" "${pos[@]}" \
			>"$log" 2>&1 3>&- 7>&- </dev/null &
		bgpid=$!
		rc=1
		for ((i = 0; i < 200; i++)); do
			if _tl_is_mounted "$abs"; then
				rc=0
				break
			fi
			kill -0 "$bgpid" 2>/dev/null || break
			sleep 0.05
		done
		[ $rc = 0 ] || {
			wait "$bgpid"
			echo "lfs_mount: layerfs -f did not mount (exit $?)" >&2
		}
	else
		LFS_TEST_MOUNT_TAG=$tag "$LAYERFS" mount "${flags[@]}" "${pos[@]}" \
			>"$log" 2>&1 3>&- 7>&- </dev/null
		rc=$?
		cat "$log" >&2
		[ $rc = 0 ] || echo "lfs_mount: layerfs mount exited $rc" >&2
	fi
	if ! _tl_is_mounted "$abs"; then
		[ $rc = 0 ] && echo "lfs_mount: nothing mounted on $abs" >&2
		return 1
	fi
	pids=$(_tl_tagged_pids "$tag" | paste -sd " ")
	[ -n "$pids" ] ||
		pids=$(_tl_fuse_pids "$mnt" "$abs" | paste -sd " ")
	_tl_reg_add lfs "$abs" "${pids:--}" \
		"$(_tl_mountinfo "$abs" | sed 's/^[0-9]*:\([0-9]*\) .*/\1/')" \
		"$bgpid" "$log"
	[ $rc = 0 ] || return 1
	a=$(_tl_mountinfo "$abs")
	[ "${a#* }" = fuse.layerfs ] || {
		echo "lfs_mount: $abs has type ${a#* }, not fuse.layerfs" >&2
		return 1
	}
	[ -n "$pids" ] || {
		echo "lfs_mount: cannot find the daemon of $abs" >&2
		return 1
	}
}

# lfs_mount [-f] [-d] [-o OPTS]... LOWERS UPPER MNT
# Mounts layerfs; "-o workdir=" defaults to $(lfs_workdir UPPER), created
# if missing.  With -f (or -d, or -o debug) the daemon runs as a background
# job of this shell, its output in $_tl_state/layerfs.N.log (printed when
# lfs_umount reaps it).
lfs_mount() {
	_tl_lfs_mount 3 "$@"
}

# lfs_mount_ro [-f] [-d] [-o OPTS]... LOWERS MNT
lfs_mount_ro() {
	_tl_lfs_mount 2 "$@"
}

# lfs_daemon_pids MNT: prints the pids of MNT's daemon.
lfs_daemon_pids() {
	local abs line pids p
	abs=$(_tl_abspath "$1") && line=$(_tl_reg_get "$abs") || {
		echo "lfs_daemon_pids: $1 is not a registered mount" >&2
		return 1
	}
	IFS='|' read -r _ _ pids _ <<<"$line"
	for p in $pids; do
		[ "$p" = - ] || echo "${p%%:*}"
	done
}

# _tl_wait_pids SECONDS PID:START...: waits until none is alive.
_tl_wait_pids() {
	local t=$1 i p alive
	shift
	for ((i = 0; i <= t * 20; i++)); do
		alive=
		for p in "$@"; do
			[ "$p" = - ] && continue
			_tl_alive "$p" && alive="$alive ${p%%:*}"
		done
		[ -z "$alive" ] && return 0
		sleep 0.05
	done
	printf '%s\n' "$alive"
	return 1
}

# lfs_umount MNT: fusermount3 -u, then the daemon must exit within
# $LFS_UMOUNT_TIMEOUT seconds.
lfs_umount() {
	local abs line kind pids bgpid log left st
	abs=$(_tl_abspath "$1") && line=$(_tl_reg_get "$abs") || {
		echo "lfs_umount: $1 is not a registered mount" >&2
		return 1
	}
	IFS='|' read -r kind _ pids _ bgpid log <<<"$line"
	[ "$kind" = lfs ] || {
		echo "lfs_umount: $1 is not a layerfs mount" >&2
		return 1
	}
	echo "+ fusermount3 -u $abs" >&2
	fusermount3 -u -- "$abs" || return 1
	# shellcheck disable=SC2086
	if ! left=$(_tl_wait_pids "$LFS_UMOUNT_TIMEOUT" $pids); then
		echo "lfs_umount: daemon of $abs still running after" \
			"${LFS_UMOUNT_TIMEOUT}s:$left" >&2
		return 1
	fi
	_tl_reg_del "$abs"
	if [ "$bgpid" != - ]; then
		wait "$bgpid" 2>/dev/null
		st=$?
		cat "$log" >&2
		if [ $st != 0 ] && [ $st != 127 ]; then
			echo "lfs_umount: daemon exited with status $st" >&2
			return 1
		fi
	fi
}

# lfs_kill MNT [SIGNAL]: signals MNT's daemon (crash tests); the mount stays
# registered, so lfs_umount or the EXIT trap still cleans it up.
lfs_kill() {
	local p
	for p in $(lfs_daemon_pids "$1"); do
		kill -s "${2:-KILL}" "$p" || return 1
	done
}

# kovl_mount LOWERS UPPER WORK MNT [EXTRA_OPTS]: mounts kernel overlayfs;
# with UPPER and WORK empty, a read-only overlay of LOWERS.
kovl_mount() {
	local lowers=$1 upper=$2 work=$3 mnt=$4 extra=${5:-} o='' l abs
	local -a ls
	IFS=: read -r -a ls <<<"$lowers"
	for l in "${ls[@]}"; do
		l=$(_tl_abspath "$l") || return 1
		o=${o:+$o:}$l
	done
	o=lowerdir=$o
	if [ -n "$upper" ]; then
		upper=$(_tl_abspath "$upper") && work=$(_tl_abspath "$work") ||
			return 1
		o=$o,upperdir=$upper,workdir=$work
	fi
	o=$o${extra:+,$extra}
	abs=$(_tl_abspath "$mnt") || return 1
	echo "+ mount -t overlay overlay -o $o $abs" >&2
	mount -t overlay overlay -o "$o" "$abs" || return 1
	_tl_reg_add kovl "$abs" - - - -
}

kovl_umount() {
	local abs
	abs=$(_tl_abspath "$1") && _tl_reg_get "$abs" >/dev/null || {
		echo "kovl_umount: $1 is not a registered mount" >&2
		return 1
	}
	umount -- "$abs" || return 1
	_tl_reg_del "$abs"
}

# Unmounts one registry entry by any means; kills only the daemon pids
# recorded for it.  Fails if something could not be cleaned up.
_tl_teardown() {
	local kind=$1 mnt=$2 pids=$3 conn=$4 bgpid=$5 ok=0 p left
	if _tl_is_mounted "$mnt"; then
		if [ "$kind" = lfs ]; then
			timeout 10 fusermount3 -u -- "$mnt" ||
				timeout 10 umount -- "$mnt"
		else
			timeout 10 umount -- "$mnt"
		fi
	fi 2>/dev/null
	if _tl_is_mounted "$mnt"; then
		ok=1
		if [ "$kind" = lfs ] && [ "$conn" != - ] &&
			[ -w "/sys/fs/fuse/connections/$conn/abort" ]; then
			echo 1 >"/sys/fs/fuse/connections/$conn/abort"
		fi 2>/dev/null
		umount -l -- "$mnt" 2>/dev/null
	fi
	[ "$kind" = lfs ] || return $ok
	# shellcheck disable=SC2086
	if ! left=$(_tl_wait_pids 5 $pids); then
		ok=1
		for p in $left; do kill -TERM "$p" && kill -CONT "$p"; done 2>/dev/null
		# shellcheck disable=SC2086
		left=$(_tl_wait_pids 2 $pids) ||
			for p in $left; do kill -KILL "$p"; done 2>/dev/null
	fi
	[ "$bgpid" = - ] || wait "$bgpid" 2>/dev/null
	return $ok
}

# test_umount_all: unmounts every registered mount, newest first; also
# usable from test_when_finished.  Fails if any needed force.
test_umount_all() {
	local ok=0 line kind mnt pids conn bgpid
	[ -s "$_tl_reg" ] || return 0
	while IFS='|' read -r kind mnt pids conn bgpid _; do
		[ -n "$mnt" ] || continue
		_tl_teardown "$kind" "$mnt" "$pids" "$conn" "$bgpid" || {
			ok=1
			echo "test_umount_all: had to force $kind mount $mnt" >&2
		}
		_tl_reg_del "$mnt"
	done < <(tac "$_tl_reg")
	return $ok
}

# Lazily unmounts anything still mounted below $_tl_root (mounts made
# without the helpers), newest first.
_tl_umount_strays() {
	local esc line mp _a _b _c _d n=0
	local -a mps
	esc=$(_tl_mi_escape "$_tl_root")/
	while IFS= read -r line; do
		read -r _a _b _c _d mp _ <<<"$line"
		case $mp in "$esc"*) mps+=("$(printf '%b' "${mp//\\/\\0}")") ;; esac
	done </proc/self/mountinfo
	for ((n = ${#mps[@]} - 1; n >= 0; n--)); do
		echo "# unmounting stray mount ${mps[$n]}"
		umount -l -- "${mps[$n]}" 2>/dev/null
	done
	[ ${#mps[@]} = 0 ]
}

_tl_on_exit() {
	local rc=$? left=0
	set +x
	trap '' PIPE # the reader may be gone; cleaning up matters more
	exec 7>&-
	cd / || :
	if [ -z "$_tl_done" ]; then
		echo "# FATAL: unexpected exit with code $rc"
		[ $rc = 0 ] && rc=1
	fi
	if [ -s "$_tl_reg" ]; then
		say "cleaning up mounts still registered:"
		sed 's/^/#   /' "$_tl_reg"
		test_umount_all 2>&1 | sed 's/^/# /'
		[ "${PIPESTATUS[0]}" = 0 ] || left=1
	fi
	_tl_umount_strays || left=1
	if [ $left != 0 ]; then
		say "teardown needed force; see above"
		rc=1
	fi
	if [ $rc != 0 ] && [ "${LFS_TEST_KEEP:-}" = 1 ]; then
		say "keeping the scratch directory: $TRASH"
	elif _tl_umount_strays >/dev/null; then
		rm -rf --one-file-system "$_tl_root"
	else
		say "not removing $_tl_root: something is still mounted"
	fi
	exit $rc
}

trap _tl_on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE

if [ -n "${test_description:-}" ]; then
	say "$TEST_NAME: $test_description"
fi
