#!/bin/bash
# shellcheck disable=SC2016 # test bodies are single-quoted on purpose
# shellcheck disable=SC2317 # shellcheck thinks skip_all never returns
# shellcheck source-path=SCRIPTDIR
test_description='layerfs export and import: OCI image layouts

An image built by hand (GNU tar layers with .wh. whiteouts and an opaque
marker, JSON written with printf) is imported, checked in the store and
through a mount, exported, re-imported and re-exported byte for byte,
read by umoci and skopeo, and hostile archives are refused without a
trace.'
# shellcheck source=test-lib.sh
. "$(dirname "$0")/test-lib.sh"
test_skip_unless_root
test_need_layerfs
[ -x "$HELPER_DIR/treedump" ] || skip_all "test helper treedump is not built"
for t in gzip sha256sum setfattr getfattr; do
	command -v $t >/dev/null || skip_all "no $t"
done
tar --version 2>/dev/null | grep -q GNU || skip_all "needs GNU tar"
[ -x "$HELPER_DIR/mktar" ] && test_set_prereq MKTAR
command -v setpriv >/dev/null && test_set_prereq SETPRIV
# umoci and skopeo read OCI layouts offline; CI installs them as root.
if ! command -v umoci >/dev/null || ! command -v skopeo >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq umoci skopeo \
		>/dev/null 2>&1 || say "umoci/skopeo unavailable: skipping those"
fi
command -v umoci >/dev/null && test_set_prereq UMOCI
command -v skopeo >/dev/null && test_set_prereq SKOPEO

LAYERFS_STORE=$TRASH/store
export LAYERFS_STORE
# shellcheck disable=SC2034 # used in the test bodies
EPOCH=1700000000

# --- helpers ------------------------------------------------------------

# sha FILE: the hex sha256 of FILE.
sha() {
	sha256sum <"$1" | cut -d' ' -f1
}

# put_blob FILE LAYOUT: FILE as a blob of LAYOUT; prints "sha256:HEX SIZE".
put_blob() {
	local hex
	hex=$(sha "$1") &&
		cp "$1" "$2/blobs/sha256/$hex" &&
		echo "sha256:$hex $(stat -c %s "$1")"
}

# mk_layout LAYOUT NAME TAR...: an OCI image layout, as skopeo writes one,
# of the layer tars TAR (bottom first, gzip'ed), named NAME.
mk_layout() {
	local out=$1 name=$2 t d s n=0 sep='' diff='' layers='' hist=''
	shift 2
	mkdir -p "$out/blobs/sha256" &&
		printf '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout" ||
		return 1
	for t in "$@"; do
		n=$((n + 1))
		gzip -n -c "$t" >"$t.gz" &&
			read -r d s < <(put_blob "$t.gz" "$out") &&
			[ -n "$s" ] || return 1
		diff="$diff$sep\"sha256:$(sha "$t")\""
		layers="$layers$sep{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$d\",\"size\":$s}"
		hist="$hist$sep{\"created\":\"2024-01-0${n}T10:00:00Z\",\"created_by\":\"RUN step $n\",\"comment\":\"layer $n\"}"
		sep=,
	done
	printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[%s]},"history":[{"created":"2024-01-01T09:00:00Z","created_by":"ENV x=y","empty_layer":true},%s]}' \
		"$diff" "$hist" >"$out.config" &&
		read -r d s < <(put_blob "$out.config" "$out") &&
		printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
			"$d" "$s" "$layers" >"$out.manifest" &&
		read -r d s < <(put_blob "$out.manifest" "$out") &&
		printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
			"$d" "$s" "$name" >"$out/index.json"
}

# mk_tar DIR TAR: the layer tar of DIR as image builders write it.
mk_tar() {
	tar --format=pax --sort=name --numeric-owner --xattrs \
		--xattrs-include='user.*' -C "$1" -cf "$2" .
}

# top TAG [STORE]: the ID TAG names.
top() {
	cat "${2:-$LAYERFS_STORE}/tags/$1"
}

# parent ID [STORE]: the parent of layer ID.
parent() {
	sed -n 's/.*"parent": *"\([0-9a-f]*\)".*/\1/p' \
		"${2:-$LAYERFS_STORE}/layers/$1/meta.json"
}

nlayers() {
	find "$LAYERFS_STORE/layers" -mindepth 1 -maxdepth 1 | wc -l
}

# dump DIR: treedump of DIR without the line of DIR itself.
dump() {
	treedump "$1" | grep -v '^\. '
}

# one_line FILE: FILE is one "layerfs: CMD: ..." line.
one_line() {
	cat "$1" >&2
	test "$(wc -l <"$1")" = 1 && grep -q '^layerfs: [a-z]*: ' "$1"
}

# --- an image made by hand ----------------------------------------------

test_expect_success 'setup: two layers with whiteouts and an opaque dir' '
	mkdir -p l1/a/sub l1/d/olddir l2/a l2/d l2/top canary &&
	echo one >l1/a/f1 && ln l1/a/f1 l1/a/h1 && echo two >l1/a/sub/f2 &&
	echo keep >l1/d/keep && echo gone >l1/d/gone &&
	echo x >l1/d/olddir/x && ln -s a/f1 l1/s &&
	echo s >l1/suid && chmod 4755 l1/suid &&
	echo o >l1/owned && chown 1000:1001 l1/owned &&
	echo xa >l1/xa && setfattr -n user.test -v hello l1/xa &&
	ln l1/xa l1/xa2 && mkfifo l1/p && mknod l1/null c 1 3 &&
	chmod 0700 l2/a && echo new >l2/a/new && : >l2/a/.wh..wh..opq &&
	: >l2/d/.wh.gone && : >l2/d/.wh.olddir && echo x >l2/top/x &&
	mk_tar l1 l1.tar && mk_tar l2 l2.tar &&
	mk_layout img base l1.tar l2.tar &&
	cp -a l1 expect && rm -rf expect/a expect/d/gone expect/d/olddir &&
	cp -a l2/a l2/top expect/ && rm expect/a/.wh..wh..opq &&
	dump expect >expect.dump
'

test_expect_success 'import reads the layout into two layers, tagged' '
	"$LAYERFS" import img >id 2>err &&
	test_cmp /dev/null err &&
	test "$(cat id)" = "$(top base)" &&
	test "$(nlayers)" = 2
'

test_expect_success 'the history becomes the layers metadata' '
	t=$(top base) && b=$(parent "$t") &&
	test -z "$(parent "$b")" &&
	grep "\"created_by\": \"RUN step 2\"" "$LAYERFS_STORE/layers/$t/meta.json" &&
	grep "\"comment\": \"layer 1\"" "$LAYERFS_STORE/layers/$b/meta.json" &&
	grep "\"created\": 1704189600" "$LAYERFS_STORE/layers/$t/meta.json"
'

test_expect_success 'whiteouts become char 0/0, .wh..wh..opq an opaque xattr' '
	r=$LAYERFS_STORE/layers/$(top base)/root &&
	test_is_whiteout "$r/d/gone" &&
	test_is_whiteout "$r/d/olddir" &&
	test_is_opaque "$r/a" &&
	test_path_is_missing "$r/d/.wh.gone" &&
	test_path_is_missing "$r/a/.wh..wh..opq" &&
	test -z "$(ls -A "$LAYERFS_STORE/tmp")"
'

test_expect_success 'the base layer keeps owners, modes, links, xattrs' '
	r=$LAYERFS_STORE/layers/$(parent "$(top base)")/root &&
	test "$(stat -c %u:%g "$r/owned")" = 1000:1001 &&
	test "$(stat -c %a "$r/suid")" = 4755 &&
	test "$(stat -c %i "$r/xa")" = "$(stat -c %i "$r/xa2")" &&
	test "$(getfattr --only-values -n user.test "$r/xa")" = hello &&
	test "$(stat -c %t:%T "$r/null")" = 1:3 && test -p "$r/p" &&
	test "$(readlink "$r/s")" = a/f1 &&
	test "$(stat -c %Y "$r/a/f1")" = "$(stat -c %Y l1/a/f1)"
'

test_expect_success 'the image mounts as the merged tree' '
	mkdir mnt &&
	lfs_mount_ro @base mnt &&
	test_when_finished "lfs_umount mnt" &&
	dump mnt >mnt.dump &&
	test_cmp expect.dump mnt.dump
'


test_expect_success 'import follows an image index to this platform' '
	case $(uname -m) in
	x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;;
	esac &&
	rm -rf nested && cp -a img nested &&
	m=$(grep -o "\"digest\":\"sha256:[0-9a-f]*\",\"size\":[0-9]*" img/index.json) &&
	mt="\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\"" &&
	printf "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{%s,\"digest\":\"sha256:%064d\",\"size\":1,\"platform\":{\"architecture\":\"s390x-no\",\"os\":\"linux\"}},{%s,%s,\"platform\":{\"architecture\":\"%s\",\"os\":\"linux\"}}]}" \
		"$mt" 0 "$mt" "$m" "$arch" >nested.index &&
	read -r d s < <(put_blob nested.index nested) &&
	printf "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"%s\",\"size\":%s,\"annotations\":{\"org.opencontainers.image.ref.name\":\"nested\"}}]}" \
		"$d" "$s" >nested/index.json &&
	"$LAYERFS" import nested >id4 &&
	test "$(cat id4)" = "$(top base)" && test "$(top nested)" = "$(top base)"
'

# --- export ---------------------------------------------------------------

# check_layout DIR: every blob hashes to its name; prints nothing on success.
check_layout() {
	local b
	test_path_is_file "$1/oci-layout" &&
		test_path_is_file "$1/index.json" || return 1
	for b in "$1"/blobs/sha256/*; do
		[ "$(sha "$b")" = "${b##*/}" ] || {
			echo "blob $b does not match its name" >&2
			return 1
		}
	done
}

test_expect_success 'export writes an OCI layout named after the tag' '
	SOURCE_DATE_EPOCH=$EPOCH "$LAYERFS" export base -o out1 2>err &&
	test_cmp /dev/null err &&
	check_layout out1 &&
	grep -q "\"org.opencontainers.image.ref.name\":\"base\"" out1/index.json &&
	test "$(ls out1/blobs/sha256 | wc -l)" = 4 &&
	test -z "$(ls -d out1.tmp-* 2>/dev/null)"
'

test_expect_success 'the layers are tar changesets with .wh. markers' '
	m=$(sed "s/.*\"digest\":\"sha256:\([0-9a-f]*\)\".*/\1/" out1/index.json) &&
	grep -o "sha256:[0-9a-f]*" "out1/blobs/sha256/$m" | sed 1d |
		sed "s/sha256://" >layers &&
	test "$(wc -l <layers)" = 2 &&
	tar -tzf "out1/blobs/sha256/$(sed -n 2p layers)" >top.list &&
	grep -x "d/.wh.gone" top.list && grep -x "d/.wh.olddir" top.list &&
	grep -x "a/.wh..wh..opq" top.list &&
	test "$(grep -n -x -e a/ -e a/.wh..wh..opq top.list | cut -d: -f1 |
		tr "\n" " ")" = "1 2 " &&
	tar --numeric-owner -tvzf "out1/blobs/sha256/$(sed -n 1p layers)" >base.list &&
	grep "^hrw-r--r-- 0/0 .* xa2 link to xa$" base.list &&
	grep "^-rw-r--r-- 1000/1001 " base.list | grep -q " owned$" &&
	grep " 2023-11-14 22:13 " base.list >/dev/null
'

test_expect_success 'the config has the DiffIDs and the history' '
	c=$(grep -o "\"config\":{[^}]*}" "out1/blobs/sha256/$m" |
		grep -o "sha256:[0-9a-f]*" | sed "s/sha256://") &&
	grep -q "\"os\":\"linux\"" "out1/blobs/sha256/$c" &&
	grep -q "\"architecture\":\"" "out1/blobs/sha256/$c" &&
	grep -q "\"created_by\":\"RUN step 2\"" "out1/blobs/sha256/$c" &&
	grep -q "\"created\":\"2023-11-14T22:13:20Z\"" "out1/blobs/sha256/$c" &&
	for l in $(cat layers); do
		gzip -dc "out1/blobs/sha256/$l" | sha256sum | cut -d" " -f1
	done >diffids &&
	for d in $(cat diffids); do
		grep -q "sha256:$d" "out1/blobs/sha256/$c" || return 1
	done
'

test_expect_success 'export, import, export: the same bytes' '
	LAYERFS_STORE=$TRASH/store2 "$LAYERFS" import out1 >id2 &&
	test "$(cat id2)" = "$(top base store2)" &&
	LAYERFS_STORE=$TRASH/store2 SOURCE_DATE_EPOCH=$EPOCH \
		"$LAYERFS" export base -o out2 &&
	diff -r out1 out2 &&
	SOURCE_DATE_EPOCH=$EPOCH "$LAYERFS" export base -o out3 &&
	diff -r out1 out3
'

test_expect_success 'the round trip mounts to the same tree' '
	mkdir mnt2 &&
	lfs_mount_ro -o store="$TRASH/store2" @base mnt2 &&
	test_when_finished "lfs_umount mnt2" &&
	dump mnt2 >mnt2.dump &&
	test_cmp expect.dump mnt2.dump
'

test_expect_success 'export to a .tar, and import from it' '
	SOURCE_DATE_EPOCH=$EPOCH "$LAYERFS" export base -o img.tar &&
	test_path_is_file img.tar &&
	tar -tf img.tar >list &&
	grep -x index.json list && grep -x oci-layout list &&
	test "$(grep -c "^blobs/sha256/." list)" = 4 &&
	"$LAYERFS" import -t fromtar img.tar >id3 &&
	test "$(cat id3)" = "$(cat id2)" &&
	test "$(top fromtar)" = "$(cat id2)" &&
	test -z "$(ls -A "$LAYERFS_STORE/tmp")" &&
	test -z "$(ls -d img.tar.tmp-* 2>/dev/null)"
'

test_expect_success 'zstd and uncompressed layers read back the same' '
	SOURCE_DATE_EPOCH=$EPOCH "$LAYERFS" export --compress zstd base -o z &&
	SOURCE_DATE_EPOCH=$EPOCH "$LAYERFS" export --compress none base -o n &&
	check_layout z && check_layout n &&
	grep -q "tar+zstd" z/blobs/sha256/* &&
	test "$("$LAYERFS" import -t z z)" = "$(cat id2)" &&
	test "$("$LAYERFS" import -t n n)" = "$(cat id2)"
'

test_expect_success 'a layer ID exports as latest; a second image joins a layout' '
	"$LAYERFS" export "$(top base | cut -c1-12)" -o multi &&
	grep -q "\"org.opencontainers.image.ref.name\":\"latest\"" multi/index.json &&
	"$LAYERFS" export "$(parent "$(top base)")" -o lower.tar &&
	"$LAYERFS" import -t lower lower.tar &&
	"$LAYERFS" export @lower -o multi &&
	test "$(grep -o "ref.name" multi/index.json | wc -l)" = 2 &&
	check_layout multi &&
	test_must_fail "$LAYERFS" import multi 2>err && one_line err &&
	grep "holds 2 images; name one of: latest, lower" err &&
	test "$("$LAYERFS" import -t again multi lower)" = "$(top lower)" &&
	test -z "$(ls -d multi.tmp-* 2>/dev/null)"
'

test_expect_success 'export refuses a bad output, a bad ref, a bad option' '
	mkdir full && echo x >full/f &&
	test_must_fail "$LAYERFS" export base -o full 2>err && one_line err &&
	grep "full: exists, and is neither empty nor an OCI image layout" err &&
	test_must_fail "$LAYERFS" export nosuchtag -o o4 2>err && one_line err &&
	grep "nosuchtag: no such tag or layer" err &&
	test_must_fail "$LAYERFS" export --compress xz base -o o4 2>err &&
	one_line err &&
	test_must_fail "$LAYERFS" export base 2>err && one_line err &&
	test_path_is_missing o4 && test_path_is_file full/f
'

test_expect_success 'a directory redirect cannot be exported' '
	LAYERFS_STORE=$TRASH/store3 "$LAYERFS" import -t r out1 &&
	r=$TRASH/store3/layers/$(top r store3)/root &&
	setfattr -n trusted.overlay.redirect -v /d "$r/top" &&
	test_must_fail env LAYERFS_STORE=$TRASH/store3 \
		"$LAYERFS" export r -o red 2>err && one_line err &&
	grep "top: .*redirect.*layerfs squash" err &&
	test_path_is_missing red && test -z "$(ls -d red.tmp-* 2>/dev/null)"
'

test_expect_success 'an interrupted export leaves nothing' '
	dd if=/dev/urandom of=big bs=1M count=64 2>/dev/null &&
	mkdir bigl && mv big bigl/ && mk_tar bigl big.tar &&
	mk_layout bigimg big big.tar && "$LAYERFS" import bigimg >/dev/null &&
	{ "$LAYERFS" export --compress gzip big -o killed & } &&
	pid=$! &&
	for i in $(seq 100); do
		test -d "killed.tmp-$pid" && break; sleep 0.05
	done &&
	test -d "killed.tmp-$pid" && kill -TERM $pid;
	wait $pid;
	# the kill lands mid-export, or (on a fast run) after the rename:
	# either way there is the whole layout or nothing, never a part
	test -z "$(ls -d killed.tmp-* 2>/dev/null)" &&
	if test -e killed; then
		test -f killed/index.json && test -f killed/oci-layout
	fi
'

# --- other tools ----------------------------------------------------------

test_expect_success UMOCI 'umoci unpacks the export to the merged tree' '
	umoci unpack --image out1:base bundle >umoci.log 2>&1 &&
	dump bundle/rootfs >umoci.dump &&
	test_cmp mnt.dump umoci.dump
'

test_expect_success SKOPEO 'skopeo reads the export; import reads what skopeo writes' '
	skopeo inspect oci:out1:base >inspect.json &&
	grep -q "\"Layers\"" inspect.json &&
	skopeo --insecure-policy copy oci:out1:base oci:sk:copied &&
	skopeo --insecure-policy copy oci-archive:img.tar oci-archive:sk.tar:arch &&
	test "$("$LAYERFS" import sk)" = "$(cat id2)" &&
	test "$(top copied)" = "$(cat id2)" &&
	test "$("$LAYERFS" import sk.tar)" = "$(cat id2)"
'

test_expect_success SKOPEO 'skopeo copies the export into containers-storage' '
	cs="containers-storage:[vfs@$TRASH/cs/root+$TRASH/cs/run]" &&
	skopeo --insecure-policy copy oci:out1:base "${cs}localhost/lfs:base" &&
	skopeo --insecure-policy copy "${cs}localhost/lfs:base" oci:back:back &&
	test "$(LAYERFS_STORE=$TRASH/store2 "$LAYERFS" import back)" = \
		"$(cat id2)"
'

# --- hostile archives ---------------------------------------------------

# refused CASE PATTERN SPEC...: an image whose second layer is "mktar
# SPEC..." fails with one line matching PATTERN, and leaves no trace: no
# new layer (the first one is rolled back), no staging dir, no tag,
# nothing outside.
refused() {
	local c=$1 pat=$2 before
	shift 2
	rm -rf "evil-$c" && mktar "evil-$c.tar" "$@" &&
		mk_layout "evil-$c" "evil-$c" good.tar "evil-$c.tar" &&
		before=$(nlayers) &&
		test_expect_code 1 "$LAYERFS" import "evil-$c" >out 2>err &&
		one_line err && grep -e "$pat" err >/dev/null &&
		test_cmp /dev/null out &&
		test "$(nlayers)" = "$before" &&
		test -z "$(ls -A "$LAYERFS_STORE/tmp")" &&
		test_path_is_missing "$LAYERFS_STORE/tags/evil-$c" &&
		test -z "$(ls -A canary)" &&
		test_path_is_missing "$TRASH/escape" &&
		test_path_is_missing /abs-layerfs-test
}

test_expect_success MKTAR 'setup: a harmless first layer' '
	mktar good.tar d:gooddir f:gooddir/file:hello &&
	mk_layout good good good.tar &&
	"$LAYERFS" import good >/dev/null &&
	"$LAYERFS" import good >/dev/null &&
	rm -rf "$LAYERFS_STORE/layers/$(top good)" "$LAYERFS_STORE/tags/good"
'

test_expect_success MKTAR 'refused: ../ in a path' '
	refused dotdot "\.\./escape: .\.\.. in the path" f:../escape:x
'

test_expect_success MKTAR 'refused: an absolute path' '
	refused abs "/abs-layerfs-test: absolute path" f:/abs-layerfs-test:x
'

test_expect_success MKTAR 'refused: writing through a symlink planted earlier' '
	refused symlink "dir/file: .dir. is a symbolic link" \
		l:dir:"$TRASH/canary" f:dir/file:x
'

test_expect_success MKTAR 'refused: a directory over a planted symlink' '
	refused symdir "dir/*: .dir. appears twice" l:dir:"$TRASH/canary" d:dir
'

test_expect_success MKTAR 'refused: hard links that leave the layer' '
	refused link1 "pw: .\.\.. in the hard link target" h:pw:../../etc/passwd &&
	refused link2 "pw: absolute hard link target" h:pw:/etc/passwd &&
	refused link3 "pw: .etc. is a symbolic link" l:etc:/etc h:pw:etc/passwd
'

test_expect_success MKTAR 'refused: a hard link to what comes later' '
	refused early "early: hard link to .later., which is not in the layer" \
		h:early:later f:later:x
'

test_expect_success MKTAR 'refused: a name longer than NAME_MAX' '
	long=$(printf "n%.0s" $(seq 300)) &&
	refused long "a name of 300 bytes" f:"$long":x
'

test_expect_success MKTAR 'refused: a path deeper than 4096' '
	deep=$(printf "a/%.0s" $(seq 4097))f &&
	refused deep "deeper than 4096" f:"$deep":x
'

test_expect_success MKTAR 'refused: an absurd size' '
	refused big "big: absurd size" f:small:x b:big:0x20000000000
'

test_expect_success MKTAR 'refused: a name given twice, a whiteout of ..' '
	refused dup "dup: .dup. appears twice" f:dup:a f:dup:b &&
	refused whdot "whiteout of .\.." f:.wh..: &&
	refused whdotdot "whiteout of .\.\.." f:.wh...:
'

test_expect_success MKTAR 'refused: a truncated layer' '
	mktar full.tar f:a:aaaa f:b:"$(printf "%0600d" 0)" &&
	head -c 1600 full.tar >trunc.tar &&
	mk_layout trunc trunc good.tar trunc.tar &&
	before=$(nlayers) &&
	test_expect_code 1 "$LAYERFS" import trunc 2>err && one_line err &&
	grep -i "b: .*truncated" err &&
	test "$(nlayers)" = "$before" &&
	test -z "$(ls -A "$LAYERFS_STORE/tmp")"
'

test_expect_success MKTAR 'refused: a blob that does not match its digest' '
	rm -rf bad && cp -a good bad &&
	b=bad/blobs/sha256/$(sha good.tar.gz) && test_path_is_file "$b" &&
	printf x >>"$b" &&
	test_expect_code 1 "$LAYERFS" import bad 2>err && one_line err &&
	grep "bytes, the descriptor says" err &&
	size=$(stat -c %s good.tar.gz) && cp good.tar.gz "$b" &&
	printf "\\377" | dd of="$b" bs=1 seek=$((size - 9)) conv=notrunc &&
	test_expect_code 1 "$LAYERFS" import bad 2>err && one_line err &&
	grep "layer sha256:.*: content does not match its digest" err &&
	test -z "$(ls -A "$LAYERFS_STORE/tmp")"
'

test_expect_success MKTAR 'a whiteout and an entry of the same name in one layer' '
	mktar same.tar f:.wh.x: f:x:new d:d f:d/.wh.y: d:d/y &&
	mk_layout same same good.tar same.tar &&
	"$LAYERFS" import same >id5 &&
	r=$LAYERFS_STORE/layers/$(cat id5)/root &&
	test "$(cat "$r/x")" = new && test -d "$r/d/y"
'

test_expect_success MKTAR,SETPRIV 'rootless: device nodes refused, markers in user.*' '
	mkdir ustore && chown 65534:65534 ustore &&
	mktar dev.tar c:null:1:3 && mk_layout udev udev dev.tar &&
	test_expect_code 1 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$LAYERFS" import --store "$TRASH/ustore" udev 2>err &&
	one_line err && grep "null: device node: only root" err &&
	mk_layout uimg uimg good.tar l2.tar &&
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$LAYERFS" import --store "$TRASH/ustore" uimg >uid &&
	r=$TRASH/ustore/layers/$(cat uid)/root &&
	test_is_whiteout "$r/d/gone" &&
	test "$(getfattr --only-values -n user.overlay.opaque "$r/a")" = y &&
	test "$(stat -c %u "$r/top/x")" = 65534
'

test_expect_success MKTAR 'refused: a layout tar that leaves its directory' '
	mktar evil-outer.tar f:oci-layout:x f:../escape:x &&
	test_expect_code 1 "$LAYERFS" import evil-outer.tar 2>err &&
	one_line err && grep "\.\./escape: path leaves the layout" err &&
	test_path_is_missing "$TRASH/escape" &&
	test -z "$(ls -A "$LAYERFS_STORE/tmp")"
'

test_done
