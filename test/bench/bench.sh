#!/bin/bash
# layerfs benchmark: the same workloads on a plain directory, the
# kernel's overlayfs, fuse-overlayfs, unionfs-fuse and layerfs.
# See test/bench/README.  Run as root (mounts, drop_caches).
#
#   bench.sh [--quick] [--runs N] [--targets LIST] [--workloads LIST]
#            [--out DIR] [--data DIR] [--list]
#
# It only measures: nothing here asserts a time.

set -u -o pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
LAYERFS=${LAYERFS:-$HERE/../../layerfs}
ALL_TARGETS=plain,kernel,fuse-overlayfs,unionfs-fuse,layerfs
# Jobs: each mounts one target fresh and yields one or more metrics.
ALL_JOBS=mount,find,stat,ls,lsl,seqread,seqwrite,seqwrite_fsync,randread,append,chmod,chown,utimes,copyup,create,untar,tar,grep,unlink,rmrf,par1,parN,mem

RUNS=
QUICK=0
TARGETS=$ALL_TARGETS
JOBS=$ALL_JOBS
OUT=/var/tmp/layerfs-bench/out
DATA=/var/tmp/layerfs-bench/data
NCPU=$(nproc)

usage() {
	cat <<EOF
usage: bench.sh [--quick] [--runs N] [--targets LIST] [--workloads LIST]
                [--out DIR] [--data DIR] [--list]

  --quick          1 run, smaller workloads (under 3 minutes)
  --runs N         runs per workload and target (default 3; quick 1)
  --targets LIST   comma-separated, from: $ALL_TARGETS
  --workloads LIST comma-separated, from:
                   $ALL_JOBS
  --out DIR        where results.csv, results.json, table.txt go
                   (default $OUT)
  --data DIR       where the layers are built once and kept
                   (default $DATA)
  --list           describe the workloads and exit
Environment: LAYERFS=path of the layerfs binary (default ../../layerfs
from this script).
EOF
}

list_jobs() {
	cat <<'EOF'
mount           mount time (mount command until the root is statable)
find            find over the ~50k-entry tree, names only (cold, warm)
stat            find -printf %s over the tree: lstat of every entry (cold, warm)
ls              ls -f of the 100k-entry merged directory (cold, warm)
lsl             readdir + lstat of the 100k-entry directory (cold, warm)
seqread         dd of the 1 GiB lower file, bs=1M (cold, warm)
seqwrite        dd of 1 GiB of zeros into a new file
seqwrite_fsync  the same with conv=fsync
randread        4 KiB preads at random offsets of the 1 GiB lower file
                (cold; warm after the file was read whole)
append          append 1 byte to the 1 GiB lower file (copy-up latency)
chmod           chmod of the 1 GiB lower file (copy-up latency)
chown           chown of the 1 GiB lower file (copy-up latency)
utimes          touch -h of the 1 GiB lower file (copy-up latency)
copyup          utime() of ~4900 small lower files (copy-up of each)
create          create 10k files of 100 bytes in a new directory
untar           tar x of a 38 MiB, ~7.7k-entry tarball into the mount
tar             tar c of the tree into a pipe (cold, warm)
grep            grep -r of a string found nowhere in the tree (cold, warm,
                warm again: see README)
unlink          unlink 10k lower files (in two lowers)
rmrf            rm -rf tree/usr/share (~13.5k entries over every layer)
par1 / parN     one worker, then one per core, over the same work: read
                files, create 1000 files, touch 300 lower files each
mem             daemon RSS at start, after stat of 150k entries, and
                after dropping the caches (FUSE targets)
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--runs) RUNS=$2; shift ;;
	--runs=*) RUNS=${1#*=} ;;
	--targets) TARGETS=$2; shift ;;
	--targets=*) TARGETS=${1#*=} ;;
	--workloads) JOBS=$2; shift ;;
	--workloads=*) JOBS=${1#*=} ;;
	--out) OUT=$2; shift ;;
	--out=*) OUT=${1#*=} ;;
	--data) DATA=$2; shift ;;
	--data=*) DATA=${1#*=} ;;
	--list) list_jobs; exit 0 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[ -n "$RUNS" ] || { [ $QUICK = 1 ] && RUNS=1 || RUNS=3; }
case $RUNS in ''|*[!0-9]*|0) echo "bench.sh: --runs wants a positive number" >&2; exit 2 ;; esac
for t in ${TARGETS//,/ }; do
	case ",$ALL_TARGETS," in *",$t,"*) ;; *) echo "bench.sh: unknown target $t" >&2; exit 2 ;; esac
done
for j in ${JOBS//,/ }; do
	case ",$ALL_JOBS," in *",$j,"*) ;; *) echo "bench.sh: unknown workload $j" >&2; exit 2 ;; esac
done
[ "$(id -u)" = 0 ] || { echo "bench.sh: run as root (mounts, drop_caches)" >&2; exit 1; }
mkdir -p "$DATA" "$OUT" || exit 1
DATA=$(cd "$DATA" && pwd)
OUT=$(cd "$OUT" && pwd)

# Sizes.  Quick mode trims what each workload covers, not the data set.
if [ $QUICK = 1 ]; then
	BIG=big/file256m BIGMIB=256
	WALK=tree/usr/include MEM_DIRS=tree/usr/include
	NRAND_COLD=1000 NRAND_WARM=20000
	NCREATE=1000 NUNLINK=1000 RMRF=tree/usr/share/man
	COPYUP_EVERY=40 PAR_EVERY=16 PAR_CREATE=300 PAR_TOUCH=100 TMO=120
else
	BIG=big/file1g BIGMIB=1024
	WALK=tree MEM_DIRS="tree bigdir"
	NRAND_COLD=5000 NRAND_WARM=100000
	NCREATE=10000 NUNLINK=10000 RMRF=tree/usr/share
	COPYUP_EVERY=10 PAR_EVERY=2 PAR_CREATE=1000 PAR_TOUCH=300 TMO=900
fi

log() { printf '%s\n' "$*" >&2; }

# ---- state for cleanup -------------------------------------------------
CUR_MNT=
CUR_TARGET=
CUR_PID=
CUR_RUN=
LFS_BIN=
# layerfs mount options (see README): metadata-only copy-up by default
LFS_BENCH_OPTS=${LFS_BENCH_OPTS-metacopy=on}
BIN_DIR=
BUILD_MNT=
cleanup() {
	trap - EXIT INT TERM
	[ -n "$CUR_MNT" ] && unmount_target
	if [ -n "$BUILD_MNT" ] && is_mounted "$BUILD_MNT"; then
		umount "$BUILD_MNT" 2>/dev/null || fusermount3 -u "$BUILD_MNT" 2>/dev/null || umount -l "$BUILD_MNT"
	fi
	[ -n "$CUR_RUN" ] && rm -rf "$CUR_RUN"
	[ -n "$BIN_DIR" ] && rm -rf "$BIN_DIR"
	[ -e "$DATA/plain.dirty" ] && restore_plain
}
trap cleanup EXIT
trap 'log "bench.sh: interrupted"; exit 130' INT TERM

# ---- peers -------------------------------------------------------------
have_target() {
	case $1 in
	plain) return 0 ;;
	kernel) grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null
		grep -qw overlay /proc/filesystems ;;
	fuse-overlayfs) command -v fuse-overlayfs >/dev/null ;;
	unionfs-fuse) command -v unionfs-fuse >/dev/null ;;
	layerfs) [ -x "${LFS_BIN:-}" ] ;;
	esac
}

APT_UPDATED=0
install_peer() {
	have_target "$1" && return 0
	case $1 in fuse-overlayfs|unionfs-fuse) ;; *) return 1 ;; esac
	command -v apt-get >/dev/null || return 1
	log "bench.sh: installing $1"
	if [ $APT_UPDATED = 0 ]; then
		apt-get update -qq >/dev/null 2>&1; APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1
	have_target "$1"
}

pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
target_version() {
	case $1 in
	plain) echo "ext4 dir: $(findmnt -no FSTYPE -T "$DATA" 2>/dev/null)" ;;
	kernel) echo "overlayfs, Linux $(uname -r)" ;;
	fuse-overlayfs) echo "fuse-overlayfs $(fuse-overlayfs --version 2>/dev/null | sed -n 's/.*version //p' | head -1) (deb $(pkgver fuse-overlayfs))" ;;
	unionfs-fuse) echo "unionfs-fuse deb $(pkgver unionfs-fuse), libfuse $(pkgver libfuse2)" ;;
	layerfs) echo "$("$LAYERFS" --version 2>/dev/null) (git $(git -C "$HERE" describe --always --dirty 2>/dev/null || echo '?'))" ;;
	esac
}

# ---- the data set ------------------------------------------------------
GEN_VERSION="gen $(md5sum <"$HERE/gen-layers.pl" | cut -c1-12) flat 1"
LOWERS="$DATA/layers/l2:$DATA/layers/l1:$DATA/layers/l0"

# The plain target is DATA/plain, the merged view copied out once; the
# workloads that delete restore from hard links in DATA/pristine.
flatten() {
	local m=$DATA/flat.mnt
	rm -rf "$DATA/plain" "$DATA/pristine" "$m"
	mkdir -p "$m" "$DATA/plain" || return 1
	BUILD_MNT=$m
	if have_target kernel; then
		mount -t overlay overlay -o "ro,lowerdir=$DATA/upper.tmpl:$LOWERS" "$m" || return 1
	else
		"$LAYERFS" mount "$DATA/upper.tmpl:$LOWERS" "$m" || return 1
	fi
	cp -a "$m/." "$DATA/plain/"
	local rc=$?
	umount "$m" 2>/dev/null || fusermount3 -u "$m"
	BUILD_MNT=
	rmdir "$m"
	[ $rc = 0 ] || return 1
	mkdir -p "$DATA/pristine/tree/usr" &&
	cp -al "$DATA/plain/rmfiles" "$DATA/pristine/rmfiles" &&
	cp -al "$DATA/plain/tree/usr/share" "$DATA/pristine/tree/usr/share"
}

# Undo what the mutating workloads did to DATA/plain: what JOB did, or
# everything when no JOB is named.
restore_plain() {
	local p=$DATA/plain job=${1:-all}
	rm -rf "$p/newbig" "$p/created" "$p/untar" "$p/par"
	local f
	for f in big/file1g:1024 big/file256m:256; do
		[ -f "$p/${f%:*}" ] && { truncate -s $((${f#*:} << 20)) "$p/${f%:*}"; chmod 644 "$p/${f%:*}"; }
	done
	if [[ $job = @(all|unlink) ]] && { [ ! -d "$p/rmfiles" ] || [ "$(ls -f "$p/rmfiles" | wc -l)" != 10002 ]; }; then
		rm -rf "$p/rmfiles"; cp -al "$DATA/pristine/rmfiles" "$p/rmfiles"
	fi
	if [[ $job = @(all|rmrf) ]] && { [ ! -d "$p/tree/usr/share" ] ||
	   [ "$(find "$p/tree/usr/share" | wc -l)" != "$(cat "$DATA/lists/share.count")" ]; }; then
		rm -rf "$p/tree/usr/share"; cp -al "$DATA/pristine/tree/usr/share" "$p/tree/usr/share"
	fi
	[[ $job = @(all|copyup|par*) ]] &&
		(cd "$p" && perl -e 'chomp(my @f = <STDIN>); utime(1700000000, 1700000000, @f)' <"$DATA/lists/files.txt")
	rm -f "$DATA/plain.dirty"
}

ensure_data() {
	if [ "$(cat "$DATA/.version" 2>/dev/null)" = "$GEN_VERSION" ]; then
		return 0
	fi
	log "bench.sh: building the layers in $DATA (once)"
	local t0=$SECONDS
	rm -rf "$DATA/layers" "$DATA/upper.tmpl" "$DATA/plain" "$DATA/pristine" \
	       "$DATA/lists" "$DATA/src.tar" "$DATA/.version" "$DATA/plain.dirty"
	perl "$HERE/gen-layers.pl" "$DATA" >/dev/null || { log "bench.sh: gen-layers failed"; exit 1; }
	flatten || { log "bench.sh: flattening the layers failed"; exit 1; }
	mkdir -p "$DATA/lists"
	(cd "$DATA/plain" && find tree -type f | sort) >"$DATA/lists/files.txt"
	awk 'NR % 10 == 0' "$DATA/lists/files.txt" >"$DATA/lists/copyup.txt"
	find "$DATA/plain/tree/usr/share" | wc -l >"$DATA/lists/share.count"
	echo "$GEN_VERSION" >"$DATA/.version"
	log "bench.sh: layers built in $((SECONDS - t0)) s"
}

# ---- mounting ------------------------------------------------------------
# The FUSE daemon serving MNT: argv holds MNT, and it has /dev/fuse open.
find_daemon() {
	local d
	for d in /proc/[0-9]*; do
		grep -qzxF -- "$1" "$d/cmdline" 2>/dev/null || continue
		ls -l "$d/fd" 2>/dev/null | grep -q ' /dev/fuse$' && { echo "${d#/proc/}"; return; }
	done
}

mount_target() {    # TARGET RUNDIR: mounts RUNDIR/mnt, sets CUR_*
	local t=$1 r=$2 m=$2/mnt
	mkdir -p "$m" "$r/work" && cp -a "$DATA/upper.tmpl" "$r/upper" || return 1
	CUR_MNT=$m CUR_TARGET=$t CUR_PID=
	case $t in
	plain) mount --bind "$DATA/plain" "$m" ;;
	kernel) mount -t overlay overlay -o "lowerdir=$LOWERS,upperdir=$r/upper,workdir=$r/work" "$m" ;;
	fuse-overlayfs) fuse-overlayfs -o "lowerdir=$LOWERS,upperdir=$r/upper,workdir=$r/work" "$m" ;;
	unionfs-fuse) unionfs-fuse -o cow,allow_other "$r/upper=RW:${LOWERS//:/=RO:}=RO" "$m" ;;
	layerfs) "$LFS_BIN" mount "$LOWERS" "$r/upper" "$m" \
			-o "workdir=$r/work${LFS_BENCH_OPTS:+,$LFS_BENCH_OPTS}" ;;
	esac || { CUR_MNT=; return 1; }
	stat "$m/tree" >/dev/null || return 1
}

after_mount() {
	case $CUR_TARGET in
	fuse-overlayfs|unionfs-fuse|layerfs) CUR_PID=$(find_daemon "$CUR_MNT") ;;
	esac
}

daemon_ticks() {    # utime+stime of the daemon, in clock ticks
	local f
	if [ -n "$CUR_PID" ] && read -r -a f <"/proc/$CUR_PID/stat" 2>/dev/null; then
		echo $(( f[13] + f[14] ))
	else
		echo -1
	fi
}
daemon_kib() {    # FIELD (VmRSS, VmHWM) of the daemon, in KiB
	[ -n "$CUR_PID" ] || { echo -1; return; }
	awk -v k="$1:" '$1 == k { print $2; f = 1 } END { if (!f) print -1 }' "/proc/$CUR_PID/status" 2>/dev/null || echo -1
}

alive() {
	local f
	read -r -a f <"/proc/$1/stat" 2>/dev/null || return 1
	[ "${f[2]}" != Z ]
}

is_mounted() { grep -qF " $1 " /proc/self/mountinfo; }

unmount_target() {
	local m=$CUR_MNT pid=$CUR_PID i
	[ -n "$m" ] || return 0
	cd / || true
	# mountinfo, not mountpoint(1): that stats the root, which can fail
	if is_mounted "$m"; then
		case $CUR_TARGET in
		plain|kernel) umount "$m" ;;
		*) fusermount3 -u "$m" 2>/dev/null || fusermount -u "$m" 2>/dev/null || umount "$m" ;;
		esac 2>/dev/null || {
			log "bench.sh: $CUR_TARGET: unmount failed (busy?); retrying, then detaching"
			sleep 1; umount "$m" 2>/dev/null || umount -l "$m"
		}
	fi
	if [ -n "$pid" ]; then
		# gone, or a zombie waiting for init to reap it
		for ((i = 0; i < 1500; i++)); do alive "$pid" || break; sleep 0.02; done
		alive "$pid" && {
			log "bench.sh: $CUR_TARGET daemon $pid did not exit after unmount; killing it"
			kill "$pid"
		}
	fi
	CUR_MNT= CUR_PID= CUR_TARGET=
}

# ---- measuring ---------------------------------------------------------
RAW=$OUT/raw.tsv
# raw.tsv: target metric run value unit cpu_s peak_rss_kib note
ERRLOG=$OUT/errors.log
TICK=$(getconf CLK_TCK)

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }

record() {    # METRIC VALUE UNIT CPU NOTE
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$CUR_TARGET" "$1" "$RUN" "$2" "$3" "$4" -1 "${5:-}" >>"$RAW.job"
}
us2s() { awk -v u="$1" 'BEGIN { printf "%.6f", u / 1e6 }'; }

# timeit METRIC CMD...: wall seconds of CMD, daemon CPU over it.  The
# command's output is dropped, its errors go to errors.log.
timeit() {
	local metric=$1 c0 c1 t0 t1 rc cpu=-1
	shift
	c0=$(daemon_ticks)
	t0=${EPOCHREALTIME/./}
	timeout -k 5 "$TMO" "$@" >/dev/null 2>"$OUT/err.cur"
	rc=$?
	t1=${EPOCHREALTIME/./}
	c1=$(daemon_ticks)
	[ "$c0" -ge 0 ] && [ "$c1" -ge 0 ] && cpu=$(awk -v a="$c0" -v b="$c1" -v h="$TICK" 'BEGIN { printf "%.2f", (b - a) / h }')
	if [ -s "$OUT/err.cur" ]; then
		{ echo "== run $RUN $CUR_TARGET $metric: exit $rc, $(wc -l <"$OUT/err.cur") lines"
		  head -20 "$OUT/err.cur"; } >>"$ERRLOG"
	fi
	if [ $rc != 0 ]; then
		log "  $CUR_TARGET $metric: failed (exit $rc): $(head -1 "$OUT/err.cur")"
		record "$metric" FAIL s "$cpu" "exit $rc: $(head -1 "$OUT/err.cur")"
		return 1
	fi
	record "$metric" "$(us2s $((t1 - t0)))" s "$cpu"
}

# Workload helpers: run under timeout, so they are exported.
grep_none() { grep -r -F zqxjNOMATCHxx "$1"; [ $? = 1 ]; }
tar_pipe() {    # tar c to a pipe (tar skips reading when writing /dev/null)
	tar -C "$1" -cf - "$2" | cat >/dev/null
	# exit 1: "file changed as we read it", logged, not fatal
	[ "${PIPESTATUS[0]}" -le 1 ]
}
rand_read() {    # FILE COUNT SEED: 4 KiB preads at random aligned offsets
	perl -e '
		my ($f, $n, $s) = @ARGV;
		open(my $fh, "<", $f) or die "$f: $!\n";
		my $blocks = (-s $fh) >> 12;
		my $buf;
		for (1 .. $n) {
			$s = ($s * 1103515245 + 12345) % 2147483648;
			sysseek($fh, ($s % $blocks) << 12, 0) or die;
			sysread($fh, $buf, 4096) == 4096 or die "short read\n";
		}' "$@"
}
create_files() {    # DIR COUNT: files of 100 bytes
	perl -e '
		my ($d, $n) = @ARGV;
		mkdir $d or die "$d: $!\n";
		my $c = "x" x 99 . "\n";
		for my $i (1 .. $n) {
			open(my $fh, ">", "$d/f$i") or die "$d/f$i: $!\n";
			print $fh $c;
			close($fh) or die "$d/f$i: $!\n";
		}' "$@"
}
touch_list() {    # ROOT LIST: utime() of each listed file (copy-up)
	(cd "$1" && perl -e 'chomp(my @f = <STDIN>); my $n = 0;
		for (@f) { utime(undef, undef, $_) ? $n++ : warn "$_: $!\n" }
		$n == @f or die "utime: $n of " . @f . "\n"' <"$2")
}
unlink_lower() {    # MNT COUNT
	perl -e 'for (0 .. $ARGV[1] - 1) { my $f = sprintf("%s/rmfiles/r%05d", $ARGV[0], $_);
		unlink($f) or die "$f: $!\n" }' "$@"
}
# One parallel worker: read the files of share K of N (every PAR_EVERY-th
# file of the tree), create 1000 files, touch 300 lower files.
par_worker() {    # MNT K N
	local m=$1 k=$2 n=$3
	awk -v e="$PAR_EVERY" -v n="$n" -v k="$k" 'NR % e == 0 { if (i++ % n == k) print }' \
		"$DATA/lists/files.txt" >"$CUR_RUN/share$k"
	(cd "$m" && perl -e 'my $b; while (<STDIN>) { chomp; open(my $fh, "<", $_) or die "$_: $!\n";
		1 while sysread($fh, $b, 1 << 17); close $fh }' <"$CUR_RUN/share$k") || return 1
	mkdir -p "$m/par" 2>/dev/null
	create_files "$m/par/w$k" "$PAR_CREATE" || return 1
	head -"$PAR_TOUCH" "$CUR_RUN/share$k" >"$CUR_RUN/touch$k"
	touch_list "$m" "$CUR_RUN/touch$k"
}
par_run() {    # MNT WORKERS N: N shares, on 1 worker or on N
	local m=$1 w=$2 n=$3 k rc=0
	if [ "$w" = 1 ]; then
		for ((k = 0; k < n; k++)); do par_worker "$m" $k "$n" || rc=1; done
		return $rc
	fi
	local pids=()
	for ((k = 0; k < n; k++)); do par_worker "$m" $k "$n" & pids+=($!); done
	for k in "${pids[@]}"; do wait "$k" || rc=1; done
	return $rc
}
export -f grep_none tar_pipe rand_read create_files touch_list unlink_lower par_worker par_run
export DATA PAR_EVERY PAR_CREATE PAR_TOUCH

# One job on the mounted target.
run_job() {
	local m=$CUR_MNT
	case $1 in
	mount) ;;    # timed by run_one
	find) cold; timeit find_cold find "$m/$WALK"
		timeit find_warm find "$m/$WALK"
		NOTES+=("find_entries=$(find "$m/$WALK" 2>/dev/null | wc -l)") ;;
	stat) cold; timeit stat_cold find "$m/$WALK" -printf '%s\n'
		timeit stat_warm find "$m/$WALK" -printf '%s\n' ;;
	ls) cold; timeit ls_cold ls -f "$m/bigdir"
		timeit ls_warm ls -f "$m/bigdir"
		NOTES+=("ls_entries=$(ls -f "$m/bigdir" 2>/dev/null | wc -l)") ;;
	lsl) cold; timeit lsl_cold find "$m/bigdir" -printf '%s\n'
		timeit lsl_warm find "$m/bigdir" -printf '%s\n' ;;
	seqread) cold; timeit seqread_cold dd if="$m/$BIG" of=/dev/null bs=1M status=none
		timeit seqread_warm dd if="$m/$BIG" of=/dev/null bs=1M status=none ;;
	seqwrite) timeit seqwrite dd if=/dev/zero of="$m/newbig" bs=1M count=$BIGMIB status=none ;;
	seqwrite_fsync) timeit seqwrite_fsync dd if=/dev/zero of="$m/newbig" bs=1M count=$BIGMIB conv=fsync status=none ;;
	randread) cold; timeit randread_cold bash -c 'rand_read "$1" "$2" 42' _ "$m/$BIG" $NRAND_COLD
		cat "$m/$BIG" >/dev/null
		timeit randread_warm bash -c 'rand_read "$1" "$2" 43' _ "$m/$BIG" $NRAND_WARM ;;
	append) cold; timeit append_big bash -c 'printf x >>"$1"' _ "$m/$BIG" ;;
	chmod) cold; timeit chmod_big chmod 600 "$m/$BIG" ;;
	chown) cold; timeit chown_big chown 1:1 "$m/$BIG" ;;
	utimes) cold; timeit utimes_big touch -h -d @1000000000 "$m/$BIG" ;;
	copyup) awk -v e=$COPYUP_EVERY 'NR % e == 0' "$DATA/lists/files.txt" >"$CUR_RUN/copyup"
		cold; timeit copyup_small bash -c 'touch_list "$1" "$2"' _ "$m" "$CUR_RUN/copyup" ;;
	create) timeit create_files bash -c 'create_files "$1" "$2"' _ "$m/created" $NCREATE ;;
	untar) mkdir "$m/untar"; cold; timeit untar tar -C "$m/untar" -xf "$DATA/src.tar" ;;
	tar) cold; timeit tar_cold bash -c 'tar_pipe "$1" "$2"' _ "$m" "$WALK"
		timeit tar_warm bash -c 'tar_pipe "$1" "$2"' _ "$m" "$WALK" ;;
	grep) cold; timeit grep_cold bash -c 'grep_none "$1"' _ "$m/$WALK"
		timeit grep_warm bash -c 'grep_none "$1"' _ "$m/$WALK"
		timeit grep_warm2 bash -c 'grep_none "$1"' _ "$m/$WALK" ;;
	unlink) cold; timeit unlink_lower bash -c 'unlink_lower "$1" "$2"' _ "$m" $NUNLINK ;;
	rmrf) cold; timeit rmrf rm -rf "$m/$RMRF" ;;
	par1) cold; timeit par_1 bash -c 'par_run "$1" 1 "$2"' _ "$m" $NCPU ;;
	parN) cold; timeit par_N bash -c 'par_run "$1" "$2" "$2"' _ "$m" $NCPU ;;
	mem)
		local r0 r1 r2 d dirs=()
		for d in $MEM_DIRS; do dirs+=("$m/$d"); done
		r0=$(daemon_kib VmRSS)
		timeit mem_walk find "${dirs[@]}" -printf '%s\n'
		r1=$(daemon_kib VmRSS)
		cold; sleep 1
		r2=$(daemon_kib VmRSS)
		if [ "$r0" -ge 0 ]; then
			record mem_rss_start "$(kib2mib "$r0")" MiB -1
			record mem_rss_walked "$(kib2mib "$r1")" MiB -1
			record mem_rss_dropped "$(kib2mib "$r2")" MiB -1
		fi ;;
	esac
}
kib2mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

run_one() {    # JOB TARGET
	local job=$1 t=$2 t0 t1 n
	CUR_RUN=$(mktemp -d "$DATA/run.XXXXXX")
	export CUR_RUN
	# settle: what the last job left dirty is written first
	sync
	[ "$job" = mount ] && cold
	: >"$RAW.job"
	NOTES=()
	if [ "$t" = plain ]; then
		case $job in seqwrite*|append|chmod|chown|utimes|copyup|create|untar|unlink|rmrf|par*)
			touch "$DATA/plain.dirty" ;;
		esac
	fi
	t0=${EPOCHREALTIME/./}
	if ! mount_target "$t" "$CUR_RUN" 2>"$OUT/err.cur"; then
		log "  $t: mount failed: $(head -1 "$OUT/err.cur")"
		{ echo "== run $RUN $t mount for $job: failed"; head -20 "$OUT/err.cur"; } >>"$ERRLOG"
		CUR_TARGET=$t
		record "$job" FAIL s -1 "mount failed"
		unmount_target
		cat "$RAW.job" >>"$RAW"
		rm -rf "$CUR_RUN"; CUR_RUN=
		return
	fi
	t1=${EPOCHREALTIME/./}
	if [ -s "$OUT/err.cur" ]; then
		{ echo "== run $RUN $t mount for $job: said"; head -5 "$OUT/err.cur"; } >>"$ERRLOG"
	fi
	after_mount
	[ "$job" = mount ] && record mount "$(us2s $((t1 - t0)))" s -1
	run_job "$job"
	for n in "${NOTES[@]}"; do record "${n%%=*}" 0 count -1 "${n#*=}"; done
	# every metric of this job gets the daemon's peak RSS, read before unmount
	HWM=$(daemon_kib VmHWM)
	awk -F'\t' -v OFS='\t' -v h="$HWM" '{ $7 = h; print }' "$RAW.job" >>"$RAW"
	unmount_target
	rm -rf "$CUR_RUN"; CUR_RUN=
	[ -e "$DATA/plain.dirty" ] && restore_plain "$job"
}

# ---- main ----------------------------------------------------------------
START=$SECONDS
ensure_data
[ -e "$DATA/plain.dirty" ] && restore_plain
rm -rf "$DATA"/run.*

# A private copy of the binary: a rebuild during the run changes nothing.
if [ -x "$LAYERFS" ]; then
	BIN_DIR=$(mktemp -d /var/tmp/layerfs-bench-bin.XXXXXX)
	cp "$LAYERFS" "$BIN_DIR/layerfs" && LFS_BIN=$BIN_DIR/layerfs
fi

RUN_TARGETS=()
: >"$OUT/versions.tsv"
for t in ${TARGETS//,/ }; do
	if install_peer "$t"; then
		RUN_TARGETS+=("$t")
		printf '%s\t%s\n' "$t" "$(target_version "$t")" >>"$OUT/versions.tsv"
	else
		log "bench.sh: skipping $t: not available here"
		printf '%s\t%s\n' "$t" "SKIPPED: not available" >>"$OUT/versions.tsv"
	fi
done
[ ${#RUN_TARGETS[@]} -gt 0 ] || { log "bench.sh: no target to run"; exit 1; }

# Read the data once, so that "cold" (the guest's caches dropped) starts
# from the same place for every target, whatever the host caches.
log "bench.sh: reading the data set once"
if [ $QUICK = 1 ]; then
	cat "$DATA/layers/l0/$BIG" "$DATA/plain/$BIG" "$DATA/src.tar" >/dev/null
else
	tar -C "$DATA" -cf - layers plain upper.tmpl src.tar | cat >/dev/null
fi

: >"$RAW"
: >"$ERRLOG"
log "bench.sh: $RUNS run(s), targets: ${RUN_TARGETS[*]}, $NCPU cores"
for ((RUN = 1; RUN <= RUNS; RUN++)); do
	# rotate the order of the targets from run to run
	order=("${RUN_TARGETS[@]:$(( (RUN - 1) % ${#RUN_TARGETS[@]} ))}" \
	       "${RUN_TARGETS[@]:0:$(( (RUN - 1) % ${#RUN_TARGETS[@]} ))}")
	for job in ${JOBS//,/ }; do
		log "run $RUN/$RUNS: $job ($((SECONDS - START)) s)"
		for t in "${order[@]}"; do
			run_one "$job" "$t"
		done
	done
done
rm -f "$RAW.job" "$OUT/err.cur"

{
	printf 'runs\t%s\n' "$RUNS"
	printf 'quick\t%s\n' "$QUICK"
	printf 'cores\t%s\n' "$NCPU"
	printf 'big_file_mib\t%s\n' "$BIGMIB"
	printf 'sizes\tbig file %s MiB; find/stat/tar/grep over %s (%s entries); mem over %s; random reads %s cold, %s warm; create %s; unlink %s; rm -rf %s (%s entries); copy-up %s files; parallel: every %s. file of the tree, %s creates and %s touches per share, %s shares\n' \
		"$BIGMIB" "$WALK" "$(find "$DATA/plain/$WALK" | wc -l)" "$MEM_DIRS" \
		"$NRAND_COLD" "$NRAND_WARM" "$NCREATE" "$NUNLINK" \
		"$RMRF" "$(find "$DATA/plain/$RMRF" | wc -l)" \
		"$(awk -v e=$COPYUP_EVERY 'NR % e == 0' "$DATA/lists/files.txt" | wc -l)" \
		"$PAR_EVERY" "$PAR_CREATE" "$PAR_TOUCH" "$NCPU"
	printf 'kernel\t%s\n' "$(uname -r)"
	printf 'nofile\t%s soft, %s hard\n' "$(ulimit -Sn)" "$(ulimit -Hn)"
	printf 'machine\t%s cores, %s MiB RAM, data on %s\n' "$NCPU" \
		"$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)" \
		"$(findmnt -no FSTYPE -T "$DATA")"
	printf 'date\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf 'elapsed_s\t%s\n' "$((SECONDS - START))"
} >"$OUT/meta.tsv"
perl "$HERE/report.pl" "$OUT" | tee "$OUT/table.txt"
log "bench.sh: results in $OUT (results.csv, results.json, table.txt, errors.log); $((SECONDS - START)) s"
