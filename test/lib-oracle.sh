# shellcheck shell=bash
# shellcheck disable=SC2015 # "A && B || C" is the test-chain idiom
#
# lib-oracle.sh: kernel overlayfs as the oracle for layerfs.  Source it after
# test-lib.sh.
#
#   oracle_make_layers DIR [N [FORMAT]]
#	Builds N (default 3) sample lower layers DIR/0 (top) .. DIR/N-1
#	(bottom): files, dirs, symlinks, hard links, fifos, owners, suid and
#	sticky bits, xattrs, a big file, whiteouts and opaque dirs.  FORMAT is
#	"kernel" (whiteout = char 0/0, opaque = trusted.overlay.opaque=y, the
#	default) or "oci" (.wh.NAME and .wh..wh..opq files).  Every name is in
#	randops' name space (a..f), and every whiteout hides something below
#	(the kernel lists a whiteout that hides nothing in readdir).
#   oracle_lowers DIR N
#	Prints "DIR/0:DIR/1:...:DIR/N-1".
#   oci_to_kernel SRC DST
#	Copies layer SRC to DST, turning .wh.X into a char 0/0 device X and
#	.wh..wh..opq into trusted.overlay.opaque=y on its directory.
#   oracle_merged_copy LOWERS DST
#	Fills DST with the merged view of LOWERS, read through a read-only
#	kernel overlay mount: a plain directory for randops to compare with.
#   oracle_run SEED COUNT [KERNEL_OPTS [LAYERFS_OPTS]]
#	Runs "randops -s SEED -n COUNT" on kernel overlayfs (mounted with
#	KERNEL_OPTS, e.g. "redirect_dir=on,index=on") and on layerfs (with
#	LAYERFS_OPTS), each on its own copy of the layers, and compares: the op
#	logs, treedump of both mounts, the upper dirs (treedump -x, normalised,
#	see oracle_normalise_upper), treedump of both mounts again after a
#	remount, and that layerfs left its lower copies unchanged.  On a
#	difference it prints the seed, the first differing line and a diff, and
#	keeps its directory $TRASH/oracle.SEED.K; on success it removes it.
#
# Knobs (environment or shell variables):
#   ORACLE_LAYERS    layer directory to use (default: built on first use in
#		     $TRASH/oracle-layers with oracle_make_layers)
#   ORACLE_NLAYERS   number of layers to build (3)
#   ORACLE_FORMAT    kernel|oci: format of the layers given to layerfs; the
#		     kernel always gets a kernel-format copy (kernel)
#   ORACLE_RANDOPS_FLAGS  extra randops flags (default: -L, and -R when KERNEL_OPTS
#		     has redirect_dir=on, since the kernel refuses directory
#		     renames of lower dirs otherwise)
#   ORACLE_BATCH     if set, run randops in steps of this many operations
#		     (rounded up to a multiple of 64) and compare the mounts
#		     after each step (localises a bug)
#   ORACLE_CMP_UPPER 0 to skip the upper-dir comparison (1)
#   ORACLE_REMOUNT   0 to skip the comparison after a remount (1)
#   ORACLE_TIMEOUT   seconds allowed for each randops run (600)
#   ORACLE_UPPER_DROP  ERE of xattr names dropped from upper dumps

: "${ORACLE_UPPER_DROP:=^(trusted|user)\.overlay\.(origin|impure|uuid|nlink|upper|metacopy|protattr|redirect|opaque)$}"
_oracle_seq=0

_oracle_wh() { # DIR NAME FORMAT
	if [ "$3" = oci ]; then
		: >"$1/.wh.$2"
	else
		mknod "$1/$2" c 0 0
	fi
}

_oracle_opq() { # DIR FORMAT
	if [ "$2" = oci ]; then
		: >"$1/.wh..wh..opq"
	else
		setfattr -n trusted.overlay.opaque -v y "$1"
	fi
}

# Bottom layer.
_oracle_layer_bottom() (
	cd "$1" || exit 1
	mkdir a a/c b b/c b/f d &&
		echo "bottom a/a" >a/a &&
		echo "bottom a/b" >a/b &&
		echo "bottom a/c/a" >a/c/a &&
		chown 1:2 a/c/a && chmod 0640 a/c/a &&
		yes 'layerfs bottom a/c/b' | head -c 300000 >a/c/b &&
		ln -s a a/d &&
		ln -s a a/c/e && ln -s e a/c/f &&
		mkfifo a/e && chown 1000:1000 a/e &&
		echo "suid" >a/f && chmod 4755 a/f &&
		echo "bottom b/a" >b/a && ln b/a b/b &&
		setfattr -n user.h -v link b/a &&
		echo "bottom b/c/d" >b/c/d &&
		chmod 2775 b/f && echo "bottom b/f/a" >b/f/a &&
		head -c 5000 /dev/zero | tr '\0' y >c &&
		setfattr -n user.x -v 1 c &&
		echo "bottom d/a" >d/a && echo "bottom d/b" >d/b &&
		ln -s b/a e &&
		echo "bottom f" >f && chmod 0600 f && chown 1:2 f
)

# First middle layer (only when N >= 3).
_oracle_layer_middle() (
	cd "$1" || exit 1
	mkdir a a/c b c d &&
		echo "middle a/b" >a/b &&
		_oracle_wh a f "$2" &&
		echo "middle a/c/c" >a/c/c &&
		_oracle_wh b c "$2" &&
		echo "middle c/a" >c/a &&
		setfattr -n user.y -v middle c &&
		_oracle_opq d "$2" &&
		echo "middle d/c" >d/c &&
		echo "middle f" >f && chmod 0644 f
)

# More middle layers (N >= 4), K numbers them.
_oracle_layer_extra() (
	cd "$1" || exit 1
	mkdir a e && echo "extra$2 a/a" >a/a && echo "extra$2 e/a" >e/a
)

# Top layer (when N >= 2).
_oracle_layer_top() (
	cd "$1" || exit 1
	mkdir a a/a b c d && mkdir -m 1777 b/c &&
		chmod 0750 a && setfattr -n user.t -v top a &&
		echo "top a/a/b" >a/a/b &&
		_oracle_wh a d "$2" &&
		echo "top b/d" >b/d && ln b/d b/e &&
		echo "top b/c/f" >b/c/f &&
		echo "top c/b" >c/b &&
		echo "top d/d" >d/d &&
		_oracle_wh . e "$2"
)

oracle_make_layers() {
	local dir=$1 n=${2:-3} fmt=${3:-kernel} i
	[ "$n" -ge 1 ] || return 1
	for ((i = 0; i < n; i++)); do
		mkdir -p "$dir/$i" || return 1
	done
	_oracle_layer_bottom "$dir/$((n - 1))" || return 1
	[ "$n" -ge 2 ] || return 0
	_oracle_layer_top "$dir/0" "$fmt" || return 1
	[ "$n" -ge 3 ] || return 0
	_oracle_layer_middle "$dir/$((n - 2))" "$fmt" || return 1
	for ((i = 1; i < n - 2; i++)); do
		_oracle_layer_extra "$dir/$i" "$i" || return 1
	done
}

oracle_lowers() {
	local dir=$1 n=$2 i s=
	for ((i = 0; i < n; i++)); do
		s=${s:+$s:}$dir/$i
	done
	printf '%s\n' "$s"
}

oci_to_kernel() {
	local src=$1 dst=$2
	mkdir -p -- "$dst" && cp -a -- "$src/." "$dst/" || return 1
	find "$dst" -depth -name '.wh.*' -print0 | {
		local f d b
		while IFS= read -r -d '' f; do
			d=${f%/*}
			b=${f##*/}
			rm -f -- "$f" || exit 1
			if [ "$b" = .wh..wh..opq ]; then
				setfattr -n trusted.overlay.opaque -v y -- "$d"
			else
				mknod -- "$d/${b#.wh.}" c 0 0
			fi || exit 1
		done
	}
}

oracle_merged_copy() {
	local lowers=$1 dst=$2 m
	m=$(mktemp -d "$TRASH/merged-ro.XXXXXX") || return 1
	kovl_mount "$lowers" "" "" "$m" || return 1
	mkdir -p -- "$dst" && cp -a -- "$m/." "$dst/"
	local rc=$?
	kovl_umount "$m" && rmdir "$m" && return $rc
}

# oracle_normalise_upper < DUMP: drops what legitimately differs between
# the upper dirs of the kernel and of layerfs (from treedump -x):
#  - xattrs matching $ORACLE_UPPER_DROP: the kernel's bookkeeping
#    trusted.overlay.{origin,impure,uuid,nlink,upper,metacopy,protattr};
#  - nlink= (the kernel's index dir holds extra links to upper files) and
#    link= tags naming the entry itself (links into the index dir only);
#  - xxh64= of metacopy files (their data is still in the lower).
#  - overlay.redirect and overlay.opaque: the kernel sometimes records a
#    redirect on a directory that only moved with its parent, and marks
#    new directories opaque "as an optimization" by its in-memory state;
#    what they mean is checked by _oracle_cross, each side mounting the
#    other's upper;
#  - the owner and link tag of whiteouts (how the kernel makes them);
#  - the upper names of indexed hard links (overlay.nlink): which are
#    linked depends on the name each side copied up through.
# Kept and compared: the tree, types, modes, owners, sizes, content,
# whiteouts, user xattrs.
oracle_normalise_upper() {
	awk -v drop="$ORACLE_UPPER_DROP" '{
		meta = ($0 ~ / xattr:trusted\.overlay\.metacopy=/)
		# which names of an indexed hard link are linked in the upper
		# depends on the name each side copied up through
		if ($0 ~ / xattr:(trusted|user)\.overlay\.nlink=/)
			next
		# the kernel links its whiteouts to one shared inode
		wh = ($2 == "c" && $0 ~ / rdev=0:0( |$)/)
		out = $1
		for (i = 2; i <= NF; i++) {
			f = $i
			if (f ~ /^nlink=/)
				continue
			if (f == "link=" $1 || (wh && f ~ /^link=/))
				continue
			# and their owner depends on how they were made
			if (wh && f ~ /^(uid|gid)=/)
				continue
			if (meta && f ~ /^xxh64=/)
				continue
			if (f ~ /^xattr:/) {
				name = substr(f, 7)
				sub(/=.*/, "", name)
				if (name ~ drop)
					continue
			}
			out = out " " f
		}
		print out
	}'
}

# oracle_cmp WHAT A B [NAME_A NAME_B]: compares two files; on a difference
# prints the first differing line of each and a diff head, then fails.
oracle_cmp() {
	local what=$1 a=$2 b=$3 na=${4:-kernel} nb=${5:-layerfs}
	local info line la lb
	cmp -s -- "$a" "$b" && return 0
	info=$(cmp -- "$a" "$b" 2>&1)
	line=$(printf '%s\n' "$info" | sed -n 's/.*line \([0-9]*\).*/\1/p')
	case $info in *EOF*) line=$((line + 1)) ;; esac
	la=$(sed -n "${line}p" "$a")
	lb=$(sed -n "${line}p" "$b")
	echo "oracle: ${_oracle_desc:+$_oracle_desc: }$what differ at line $line:"
	printf "  %-9s %s\n" "$na:" "${la:-<end of file>}" \
		"$nb:" "${lb:-<end of file>}"
	echo "  files: $a $b"
	diff -u -- "$a" "$b" | head -n 40 | sed 's/^/  | /'
	return 1
}

# Dumps both mounts and compares them.
_oracle_cmp_mounts() { # DIR LABEL
	treedump "$1/k/m" >"$1/k.$2.dump" &&
		treedump "$1/f/m" >"$1/f.$2.dump" &&
		oracle_cmp "treedumps ($2)" "$1/k.$2.dump" "$1/f.$2.dump"
}

# Runs randops ops [START, END) on both mounts and compares the logs.
_oracle_step() { # DIR START END
	local d=$1 s=$2 e=$3 rc
	timeout "${ORACLE_TIMEOUT:-600}" randops "${_oracle_flags[@]}" \
		-s "$_oracle_seed" -k "$s" -n "$e" "$d/k/m" >>"$d/k.log"
	rc=$?
	[ $rc = 0 ] || {
		echo "oracle: $_oracle_desc: randops on the kernel exited $rc"
		return 1
	}
	timeout "${ORACLE_TIMEOUT:-600}" randops "${_oracle_flags[@]}" \
		-s "$_oracle_seed" -k "$s" -n "$e" "$d/f/m" >>"$d/f.log"
	rc=$?
	[ $rc = 0 ] || {
		echo "oracle: $_oracle_desc: randops on layerfs exited $rc" \
			"(124: timeout)"
		return 1
	}
	oracle_cmp "op logs" "$d/k.log" "$d/f.log"
}

# _oracle_cross DIR LOWERS_K LOWERS_F KOPTS: the kernel mounts layerfs's
# upper and layerfs the kernel's; each view must equal the one its own
# writer showed after the remount.
_oracle_cross() {
	local d=$1 lk=$2 lf=$3 kopts=$4 rc=0
	case ,$kopts, in *,redirect_dir=on,*) ;; *) kopts=${kopts:+$kopts,}redirect_dir=on ;; esac
	# each side's work dir goes along: it holds the index.  And its
	# lowers: origins and index names are file handles of those very
	# files, not of their copies on the other side.
	mkdir -p "$d/x/km" "$d/x/fm" || return 1
	kovl_mount "$lf" "$d/f/u" "$(lfs_workdir "$d/f/u")" "$d/x/km" "$kopts" ||
		return 1
	treedump "$d/x/km" >"$d/x/k-reads-f.dump" || rc=1
	kovl_umount "$d/x/km" || rc=1
	[ $rc = 0 ] && oracle_cmp "layerfs upper read by the kernel" \
		"$d/f.remount.dump" "$d/x/k-reads-f.dump" layerfs kernel || rc=1
	[ $rc = 0 ] || return 1
	lfs_mount -o "workdir=$d/k/w" "$lk" "$d/k/u" "$d/x/fm" || return 1
	treedump "$d/x/fm" >"$d/x/f-reads-k.dump" || rc=1
	lfs_umount "$d/x/fm" || rc=1
	[ $rc = 0 ] && oracle_cmp "kernel upper read by layerfs" \
		"$d/k.remount.dump" "$d/x/f-reads-k.dump" || rc=1
	return $rc
}

oracle_run() {
	local seed=$1 count=$2 kopts=${3:-} lopts=${4:-}
	local layers=${ORACLE_LAYERS:-} n fmt=${ORACLE_FORMAT:-kernel}
	local d i lk lf rc=0 s e step mounted=
	local -a lfsargs=()
	_oracle_seed=$seed
	if [ -n "${ORACLE_RANDOPS_FLAGS+set}" ]; then
		read -r -a _oracle_flags <<<"$ORACLE_RANDOPS_FLAGS"
	else
		# layerfs copies up at the first change, not at open: -L
		_oracle_flags=(-L)
		case ,$kopts, in *,redirect_dir=on,*) _oracle_flags+=(-R) ;; esac
	fi
	if [ -z "$layers" ]; then
		layers=$TRASH/oracle-layers.$fmt
		if [ ! -d "$layers" ]; then
			oracle_make_layers "$layers" "${ORACLE_NLAYERS:-3}" "$fmt" ||
				return 1
		fi
	fi
	n=$(find "$layers" -mindepth 1 -maxdepth 1 -type d | wc -l)
	_oracle_seq=$((_oracle_seq + 1))
	d=$TRASH/oracle.$seed.$_oracle_seq
	_oracle_desc="seed=$seed count=$count kernel-opts='$kopts'"
	_oracle_desc="$_oracle_desc layerfs-opts='$lopts' randops-flags='${_oracle_flags[*]}'"
	_oracle_desc="$_oracle_desc format=$fmt"
	echo "oracle: $_oracle_desc (dir $d)"
	mkdir -p "$d/k" "$d/f" || return 1
	for ((i = 0; i < n; i++)); do
		if [ "$fmt" = oci ]; then
			oci_to_kernel "$layers/$i" "$d/k/$i"
		else
			cp -a -- "$layers/$i" "$d/k/$i"
		fi || return 1
		cp -a -- "$layers/$i" "$d/f/$i" || return 1
	done
	mkdir "$d/k/u" "$d/k/w" "$d/k/m" "$d/f/u" "$d/f/m" || return 1
	lk=$(oracle_lowers "$d/k" "$n")
	lf=$(oracle_lowers "$d/f" "$n")
	[ -n "$lopts" ] && lfsargs=(-o "$lopts")
	kovl_mount "$lk" "$d/k/u" "$d/k/w" "$d/k/m" "$kopts" || return 1
	lfs_mount "${lfsargs[@]}" "$lf" "$d/f/u" "$d/f/m" || {
		kovl_umount "$d/k/m"
		return 1
	}
	mounted=1
	: >"$d/k.log" && : >"$d/f.log" || rc=1

	# randops -k needs multiples of 64 (held fds are closed there)
	step=${ORACLE_BATCH:-0}
	step=$(((step + 63) / 64 * 64))
	[ "$step" -gt 0 ] || step=$count
	s=0
	while [ $rc = 0 ] && [ "$s" -lt "$count" ]; do
		e=$((s + step))
		[ $e -le "$count" ] || e=$count
		_oracle_step "$d" "$s" "$e" &&
			_oracle_cmp_mounts "$d" "after-op-$e" || {
			rc=1
			echo "oracle: first difference within ops [$s, $e)"
			echo "oracle: rerun: randops" "${_oracle_flags[@]}" \
				"-s $seed -n $e DIR"
		}
		s=$e
	done

	kovl_umount "$d/k/m" || rc=1
	lfs_umount "$d/f/m" || rc=1
	mounted=
	if [ $rc = 0 ] && [ "${ORACLE_CMP_UPPER:-1}" = 1 ]; then
		{ treedump -x "$d/k/u" | oracle_normalise_upper >"$d/k.upper"; } &&
			{ treedump -x "$d/f/u" | oracle_normalise_upper >"$d/f.upper"; } &&
			oracle_cmp "upper dirs (normalised treedump -x)" \
				"$d/k.upper" "$d/f.upper" || rc=1
	fi
	if [ $rc = 0 ]; then
		for ((i = 0; i < n; i++)); do
			if [ "$fmt" = oci ]; then
				treedump -x "$layers/$i" >"$d/l$i.orig"
			else
				treedump -x "$d/k/$i" >"$d/l$i.orig"
			fi &&
				treedump -x "$d/f/$i" >"$d/l$i.after" &&
				oracle_cmp "lower layer $i (before, after)" \
					"$d/l$i.orig" "$d/l$i.after" || rc=1
		done
	fi
	if [ $rc = 0 ] && [ "${ORACLE_REMOUNT:-1}" = 1 ]; then
		kovl_mount "$lk" "$d/k/u" "$d/k/w" "$d/k/m" "$kopts" &&
			mounted=k &&
			lfs_mount "${lfsargs[@]}" "$lf" "$d/f/u" "$d/f/m" &&
			mounted=kf &&
			_oracle_cmp_mounts "$d" remount || rc=1
		case $mounted in *k*) kovl_umount "$d/k/m" || rc=1 ;; esac
		case $mounted in *f*) lfs_umount "$d/f/m" || rc=1 ;; esac
	fi
	# Each mounts the other's upper: the kernel reads what layerfs wrote
	# (redirects included), layerfs reads what the kernel wrote.
	if [ $rc = 0 ] && [ "$fmt" = kernel ] && [ "${ORACLE_CROSS:-1}" = 1 ]; then
		_oracle_cross "$d" "$lk" "$lf" "$kopts" || rc=1
	fi
	if [ $rc = 0 ]; then
		rm -rf --one-file-system "$d"
	else
		echo "oracle: FAILED: $_oracle_desc; kept $d"
	fi
	_oracle_desc=
	return $rc
}
