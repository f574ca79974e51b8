#!/bin/bash
# shellcheck disable=SC2016,SC2015 # quoted bodies; "A && B || C" chains
# shellcheck disable=SC2317 # shellcheck thinks skip_all never returns
# shellcheck source-path=SCRIPTDIR
test_description='metadata-only copies (overlay.metacopy) in uppers and layers

The kernel overlayfs, mounted with metacopy=on,redirect_dir=on over a store
layer, copies up only the metadata of a chmod, chown, utimes or setxattr
of a file, and a rename of one adds a redirect.  diff, commit (of an
unmounted upper and of a live mount), squash, export, history and which
must take the data of such a file from the layers below, and a layer must
hold the whole file without the overlay xattrs.  Copies planted by hand
cover the user.* namespace, chains of them, layers that hold them, and
data that is missing.'
# shellcheck source=test-lib.sh
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIR/lib-store.sh"
test_skip_unless_root
test_need_layerfs
test_need_helpers
command -v perl >/dev/null && perl -MJSON::PP -e 1 2>/dev/null ||
	skip_all "needs perl with JSON::PP"
for t in getfattr setfattr md5sum truncate; do
	command -v $t >/dev/null || skip_all "no $t"
done
export LC_ALL=C

MiB=1048576

# Does the kernel write metadata-only copies here?  (KMETACOPY)
kmetacopy_probe() {
	local d=$TRASH/kprobe ok=
	mkdir -p "$d/l" "$d/u" "$d/w" "$d/m" &&
		head -c $MiB /dev/zero >"$d/l/f" &&
		mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w,metacopy=on,redirect_dir=on" \
			"$d/m" 2>/dev/null || {
		rm -rf "$d"
		return 1
	}
	chmod 600 "$d/m/f" && umount "$d/m" &&
		getfattr --absolute-names -n trusted.overlay.metacopy "$d/u/f" \
			>/dev/null 2>&1 && ok=1
	mountpoint -q "$d/m" && umount "$d/m"
	rm -rf "$d"
	[ -n "$ok" ]
}
if kmetacopy_probe; then
	test_set_prereq KMETACOPY
else
	say "kernel overlayfs writes no metacopy files here: those tests skip"
fi


# root REF: the directory of the layer REF names.
root() {
	local id
	id=$(cat "$LAYERFS_STORE/tags/${1#@}" 2>/dev/null) || id=$1
	printf '%s\n' "$LAYERFS_STORE/layers/$id/root"
}





# same_data A B: the files A and B hold the same bytes (md5).
same_data() {
	local a b
	a=$(md5sum <"$1") && b=$(md5sum <"$2") && [ "$a" = "$b" ] && return 0
	echo "$1 and $2 differ in content" >&2
	return 1
}

# is_metacopy FILE [NS]: FILE carries NS.overlay.metacopy (trusted).
is_metacopy() {
	getfattr --absolute-names -n "${2:-trusted}.overlay.metacopy" "$1" \
		>/dev/null 2>&1 && return 0
	echo "not a metadata-only copy: $1" >&2
	return 1
}

# whole FILE: FILE has blocks for all its size (not the sparse copy).
whole() {
	local blocks size
	blocks=$(stat -c %b "$1") && size=$(stat -c %s "$1") &&
		[ $((blocks * 512)) -ge "$size" ] && return 0
	echo "$1 is sparse: $blocks blocks for $size bytes" >&2
	return 1
}

# no_overlay_xattrs DIR: nothing below DIR carries an overlay xattr.
no_overlay_xattrs() {
	local x
	x=$(getfattr -R -h -d -m - --absolute-names "$1" 2>/dev/null |
		grep -E '^(trusted|user)\.overlay\.')
	[ -z "$x" ] && return 0
	echo "overlay xattrs below $1:" >&2
	getfattr -R -h -d -m - --absolute-names "$1" >&2
	return 1
}



# top_blob LAYOUT: the path of the top layer blob of LAYOUT's only image.
top_blob() {
	local m l
	m=$(grep -o 'sha256:[0-9a-f]*' "$1/index.json" | head -n 1) &&
		l=$(grep -o '"layers":.*' "$1/blobs/sha256/${m#sha256:}" |
			grep -o 'sha256:[0-9a-f]*' | tail -n 1) &&
		printf '%s\n' "$1/blobs/sha256/${l#sha256:}"
}

# plant FILE SIZE [NS]: FILE becomes a sparse metadata-only copy of SIZE
# bytes, as the kernel leaves one.
plant() {
	rm -f "$1" && truncate -s "$2" "$1" &&
		setfattr -n "${3:-trusted}.overlay.metacopy" "$1"
}

# The base image every kernel test starts from: files of 1 MiB, one of
# 10 MiB, all random.
mkbase() {
	mkdir -p "$1/d" && (
		cd "$1" &&
			head -c $((10 * MiB)) /dev/urandom >big &&
			for f in own old xa same ren d/mv keep; do
				head -c "$MiB" /dev/urandom >"$f" || exit 1
			done
	)
}

test_expect_success KMETACOPY 'setup: the kernel copies metadata only' '
	fresh k &&
	mkbase b && cp -a b orig &&
	"$LAYERFS" commit -t base b >/dev/null &&
	mkdir up kw km &&
	kovl_mount "$(root @base)" up kw km metacopy=on,redirect_dir=on &&
	test_when_finished "test_umount_all" &&
	chmod 600 km/big &&
	chown 1234:5678 km/own &&
	touch -h -d @981173106 km/old &&
	setfattr -n user.k -v v km/xa &&
	chown "$(stat -c %u:%g km/same)" km/same &&
	mv km/ren km/ren2 &&
	mv km/d/mv km/moved &&
	treedump -m km >kview &&
	kovl_umount km &&
	rm -rf kw &&
	for f in big own old xa same ren2 moved; do
		is_metacopy up/$f || return 1
	done &&
	test "$(getfattr --only-values -n trusted.overlay.redirect up/ren2)" = ren &&
	test "$(getfattr --only-values -n trusted.overlay.redirect up/moved)" = /d/mv &&
	test "$(stat -c %b up/big)" -lt 100
'

test_expect_success KMETACOPY 'diff lists them as changed, by their data below' '
	cd "$TRASH/k" && export LAYERFS_STORE=$TRASH/k/store &&
	cat >diff.expect <<-\EOF &&
	C /big
	C /d
	D /d/mv
	A /moved
	C /old
	C /own
	D /ren
	A /ren2
	C /xa
	EOF
	"$LAYERFS" diff -p @base up >actual &&
	test_cmp diff.expect actual
'

test_expect_success KMETACOPY 'which shows where the data comes from' '
	cd "$TRASH/k" && export LAYERFS_STORE=$TRASH/k/store &&
	base=$(cat store/tags/base) &&
	"$LAYERFS" which -u up @base /moved >which.out &&
	cat >expect <<-EOF &&
	/moved
	  => upper         file (metadata only)
	     ${base:0:12}  nothing
	  the data comes from ${base:0:12}
	EOF
	test_cmp expect which.out
'

test_expect_success KMETACOPY 'commit stores whole files with the new metadata' '
	cd "$TRASH/k" && export LAYERFS_STORE=$TRASH/k/store &&
	"$LAYERFS" commit -p @base -t t2 up >id &&
	ls -A up >left && test_line_count 0 left &&
	r=$(root @t2) &&
	for f in big own old xa ren2 moved; do
		test_path_is_file "$r/$f" && whole "$r/$f" || return 1
	done &&
	same_data "$r/big" orig/big && same_data "$r/own" orig/own &&
	same_data "$r/old" orig/old && same_data "$r/xa" orig/xa &&
	same_data "$r/ren2" orig/ren && same_data "$r/moved" orig/d/mv &&
	test "$(stat -c %a "$r/big")" = 600 &&
	test "$(stat -c %u:%g "$r/own")" = 1234:5678 &&
	test "$(stat -c %Y "$r/old")" = 981173106 &&
	test "$(getfattr --only-values -n user.k "$r/xa")" = v &&
	test_path_is_missing "$r/same" &&
	test_is_whiteout "$r/ren" && test_is_whiteout "$r/d/mv" &&
	no_overlay_xattrs "$r" &&
	no_stage_leftovers
'

test_expect_success KMETACOPY 'the committed image mounts to the kernel view' '
	cd "$TRASH/k" && export LAYERFS_STORE=$TRASH/k/store &&
	test_when_finished "test_umount_all" &&
	view_dump @t2 lview &&
	test_cmp kview lview &&
	"$LAYERFS" diff @t2 >actual &&
	test_cmp diff.expect actual
'

test_expect_success KMETACOPY 'history counts the whole files' '
	cd "$TRASH/k" && export LAYERFS_STORE=$TRASH/k/store &&
	hist @t2 >actual &&
	cat >expect <<-EOF &&
	$(cat store/tags/t2) $((15 * MiB)) 0
	$(cat store/tags/base) $((17 * MiB)) $((15 * MiB))
	total $((32 * MiB)) wasted $((15 * MiB))
	EOF
	test_cmp expect actual
'

test_expect_success KMETACOPY 'export carries the whole data, no overlay xattrs' '
	cd "$TRASH/k" && export LAYERFS_STORE=$TRASH/k/store &&
	"$LAYERFS" export t2 -o oci 2>err &&
	test_cmp /dev/null err &&
	blob=$(top_blob oci) && test_path_is_file "$blob" &&
	mkdir x &&
	tar --xattrs --xattrs-include="*" --numeric-owner -xzf "$blob" -C x &&
	same_data x/big orig/big && same_data x/own orig/own &&
	same_data x/old orig/old && same_data x/xa orig/xa &&
	same_data x/ren2 orig/ren && same_data x/moved orig/d/mv &&
	test "$(stat -c %a x/big)" = 600 &&
	test "$(stat -c %u:%g x/own)" = 1234:5678 &&
	test "$(getfattr --only-values -n user.k x/xa)" = v &&
	test_path_is_file x/.wh.ren && test_path_is_file x/d/.wh.mv &&
	no_overlay_xattrs x
'

test_expect_success KMETACOPY 'commit of a live mount takes the data from below' '
	fresh live &&
	test_when_finished "test_umount_all" &&
	mkdir b && head -c $MiB /dev/urandom >b/f && cp b/f orig &&
	"$LAYERFS" commit -t base b >/dev/null &&
	mkdir up kw km mnt &&
	kovl_mount "$(root @base)" up kw km metacopy=on,redirect_dir=on &&
	chmod 600 km/f &&
	kovl_umount km && rm -rf kw &&
	is_metacopy up/f &&
	lfs_mount @base up mnt &&
	"$LAYERFS" commit -w "$(lfs_workdir up)" -t live up >id &&
	r=$(root @live) &&
	same_data "$r/f" orig && whole "$r/f" &&
	test "$(stat -c %a "$r/f")" = 600 &&
	no_overlay_xattrs "$r" &&
	is_metacopy up/f &&
	lfs_umount mnt &&
	no_stage_leftovers
'

test_expect_success 'planted: user.* copies, redirects, a chain of copies' '
	fresh planted &&
	test_when_finished "test_umount_all" &&
	mkdir -p b/d && head -c $MiB /dev/urandom >b/f &&
	head -c $MiB /dev/urandom >b/g && head -c $MiB /dev/urandom >b/d/h &&
	cp -a b orig &&
	"$LAYERFS" commit -t base b >/dev/null &&
	mkdir -p up/sub &&
	plant up/f $MiB user && chmod 604 up/f &&
	plant up/g2 $MiB user && setfattr -n user.overlay.redirect -v g up/g2 &&
	plant up/sub/h2 $MiB user &&
	setfattr -n user.overlay.redirect -v /d/h up/sub/h2 &&
	"$LAYERFS" diff -p @base up >actual &&
	printf "C /f\nA /g2\nA /sub\nA /sub/h2\n" >expect &&
	test_cmp expect actual &&
	"$LAYERFS" commit -p @base -t t2 up >/dev/null &&
	r=$(root @t2) &&
	same_data "$r/f" orig/f && same_data "$r/g2" orig/g &&
	same_data "$r/sub/h2" orig/d/h && whole "$r/f" &&
	test "$(stat -c %a "$r/f")" = 604 &&
	no_overlay_xattrs "$r"
'

test_expect_success 'planted: a layer holding a copy squashes and exports whole' '
	cd "$TRASH/planted" && export LAYERFS_STORE=$TRASH/planted/store &&
	test_when_finished "test_umount_all" &&
	# as a layer committed before the tools knew them would be
	r=$(root @t2) &&
	touch -r "$r/f" stamp && plant "$r/f" $MiB && chmod 604 "$r/f" &&
	touch -r stamp "$r/f" &&
	base=$(cut -c1-12 store/tags/base) &&
	"$LAYERFS" which @t2 /f >which.out &&
	grep -q "=> .* file (metadata only)\$" which.out &&
	grep -q "the data comes from $base\$" which.out &&
	hist @t2 >actual &&
	sed -n 1p actual | grep -q " $((3 * MiB)) 0\$" &&
	"$LAYERFS" squash -t sq @t2 >id 2>/dev/null &&
	s=$(root @sq) &&
	same_data "$s/f" orig/f && same_data "$s/g2" orig/g && whole "$s/f" &&
	test "$(stat -c %a "$s/f")" = 604 &&
	no_overlay_xattrs "$s" &&
	"$LAYERFS" export t2 -o oci 2>err && test_cmp /dev/null err &&
	mkdir x && tar -xzf "$(top_blob oci)" -C x &&
	same_data x/f orig/f && test "$(stat -c %a x/f)" = 604 &&

	# a copy over a copy: the data is the first real file below
	plant up/f $MiB && chmod 640 up/f &&
	"$LAYERFS" commit -p @t2 -t t3 up >/dev/null &&
	same_data "$(root @t3)/f" orig/f &&
	test "$(stat -c %a "$(root @t3)/f")" = 640 &&
	view_dump @t3 view &&
	grep -q "^f f 0640 " view
'

test_expect_success 'missing data: commit fails on one line, nothing changes' '
	fresh missing &&
	mkdir b && echo x >b/x && "$LAYERFS" commit -t base b >/dev/null &&
	layers >layers0 &&
	mkdir -p up/sub && echo ok >up/fine &&
	plant up/sub/ghost $MiB && chmod 600 up/sub/ghost &&
	treedump -m -x up >up0 &&
	printf "A /fine\nA /sub\nA /sub/ghost\n" >expect &&
	"$LAYERFS" diff -p @base up >actual && test_cmp expect actual &&
	test_expect_code 1 "$LAYERFS" commit -p @base -t t2 up >out 2>err &&
	one_error err sub/ghost metadata-only &&
	test_line_count 0 out &&
	layers >actual && test_cmp layers0 actual &&
	test_path_is_missing "$LAYERFS_STORE/tags/t2" &&
	no_stage_leftovers &&
	treedump -m -x up >up1 && test_cmp up0 up1 &&
	# without a parent, no layer is below at all
	test_expect_code 1 "$LAYERFS" commit up >out 2>err &&
	one_error err sub/ghost metadata-only &&
	layers >actual && test_cmp layers0 actual &&
	treedump -m -x up >up1 && test_cmp up0 up1
'

test_expect_success 'missing data: export and squash of such a layer fail' '
	cd "$TRASH/missing" && export LAYERFS_STORE=$TRASH/missing/store &&
	r=$(root @base) && plant "$r/ghost" $MiB &&
	layers >layers0 &&
	test_expect_code 1 "$LAYERFS" export base -o oci 2>err &&
	one_error err ghost metadata-only &&
	test_path_is_missing oci && test -z "$(ls -d oci.tmp-* 2>/dev/null)" &&
	test_expect_code 1 "$LAYERFS" squash -t sq base >out 2>err &&
	one_error err ghost metadata-only &&
	layers >actual && test_cmp layers0 actual &&
	test_path_is_missing "$LAYERFS_STORE/tags/sq" &&
	no_stage_leftovers
'

test_done
