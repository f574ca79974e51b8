#!/bin/bash
# shellcheck disable=SC2016 # test bodies are single-quoted on purpose
# shellcheck disable=SC2317 # shellcheck thinks skip_all never returns

test_description='the test harness, treedump and randops (no layerfs needed)'

. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIR/lib-oracle.sh"

test_skip_unless_root
test_need_helpers

# run_inner NAME: runs NAME.sh (a test script body; a line sourcing
# test-lib.sh is prepended) with its scratch dirs below ./tmp; leaves
# NAME.out, NAME.err and NAME.rc.  $INNER_ENV adds environment settings.
run_inner() {
	mkdir -p tmp &&
		{
			echo '. "$TEST_DIR_UNDER_TEST/test-lib.sh"'
			cat "$1.sh"
		} >"$1.t" &&
		env -u LFS_TEST_VERBOSE -u LFS_TEST_KEEP -u LFS_TEST_TRACE \
			-u LFS_TEST_IMMEDIATE TMPDIR="$TRASH/tmp" \
			TEST_DIR_UNDER_TEST="$TEST_DIR" ${INNER_ENV:+"$INNER_ENV"} \
			bash "$1.t" >"$1.out" 2>"$1.err" </dev/null
	echo $? >"$1.rc"
	cat "$1.out"
}

test_expect_success 'TAP accounting: ok, not ok, TODO, skip, plan, exit code' '
	cat >acct.sh <<-\INNER &&
	test_expect_success "passes" "true"
	test_expect_success "fails" "echo some-output; false"
	test_expect_failure "known broken" "false"
	test_expect_success NOSUCHPREREQ "skipped" "false"
	test_expect_failure "fixed" "true"
	test_done
	INNER
	run_inner acct &&
	echo 1 >expect.rc &&
	test_cmp expect.rc acct.rc &&
	grep "^ok 1 - passes\$" acct.out &&
	grep "^not ok 2 - fails\$" acct.out &&
	grep "^# some-output\$" acct.out &&
	grep "^not ok 3 - known broken # TODO known breakage\$" acct.out &&
	grep "^ok 4 # skip skipped (missing NOSUCHPREREQ)\$" acct.out &&
	grep "^ok 5 - fixed # TODO known breakage vanished\$" acct.out &&
	grep "^1\\.\\.5\$" acct.out &&
	test_must_fail grep -v "^#\\|^ok \\|^not ok \\|^1\\.\\." acct.out &&
	rmdir tmp
'

test_expect_success 'all passing: exit 0, scratch dir removed' '
	cat >pass.sh <<-\INNER &&
	test_expect_success "one" "echo x >f && test_path_is_file f"
	test_done
	INNER
	run_inner pass &&
	echo 0 >expect.rc &&
	test_cmp expect.rc pass.rc &&
	rmdir tmp
'

test_expect_success 'LFS_TEST_KEEP=1 keeps the scratch dir of a failing script' '
	cat >keep.sh <<-\INNER &&
	test_expect_success "leaves a file" "echo x >left && false"
	test_done
	INNER
	INNER_ENV=LFS_TEST_KEEP=1 run_inner keep &&
	dir=$(sed -n "s/^# keeping the scratch directory: //p" keep.out) &&
	test_path_is_file "$dir/left" &&
	rm -rf tmp
'

test_expect_success 'skip_all prints a SKIP plan' '
	echo "skip_all \"no reason\"" >skip.sh &&
	run_inner skip &&
	echo "1..0 # SKIP no reason" >expect &&
	test_cmp expect skip.out &&
	echo 0 >expect.rc &&
	test_cmp expect.rc skip.rc
'

test_expect_success 'test_when_finished runs last-first, also after a failure' '
	cat >fin.sh <<-\INNER &&
	test_expect_success "cleanups" "
		test_when_finished \"echo first >>\$TRASH/../../../log\" &&
		test_when_finished \"echo second >>\$TRASH/../../../log\" &&
		false
	"
	test_done
	INNER
	run_inner fin &&
	printf "second\\nfirst\\n" >expect &&
	test_cmp expect log &&
	grep "^not ok 1 - cleanups" fin.out
'

test_expect_success 'test_must_fail and test_expect_code' '
	test_must_fail false &&
	test_must_fail test_must_fail true &&
	test_must_fail test_must_fail sh -c "kill -9 \$\$" &&
	test_must_fail test_must_fail no-such-command-here &&
	test_expect_code 3 sh -c "exit 3" &&
	test_must_fail test_expect_code 3 true
'

test_expect_success 'path assertions' '
	mkdir d && echo x >f && ln -s nowhere s && mknod w c 0 0 &&
	mknod n c 1 3 &&
	test_path_is_file f && test_must_fail test_path_is_file d &&
	test_path_is_dir d && test_must_fail test_path_is_dir f &&
	test_path_is_missing nope && test_must_fail test_path_is_missing s &&
	test_is_whiteout w && test_must_fail test_is_whiteout n &&
	test_must_fail test_is_whiteout f &&
	setfattr -n trusted.overlay.opaque -v y d && test_is_opaque d &&
	rm -r d f s w n
'

test_expect_success 'kovl_mount round trip' '
	mkdir lower upper work mnt &&
	echo a >lower/a && echo b >lower/b &&
	kovl_mount lower upper work mnt &&
	grep -q " $TRASH/mnt overlay " /proc/mounts &&
	rm mnt/a && echo c >mnt/b &&
	test_path_is_missing mnt/a &&
	test_is_whiteout upper/a &&
	echo c >expect && test_cmp expect upper/b &&
	kovl_umount mnt &&
	test_must_fail grep -q " $TRASH/mnt " /proc/mounts &&
	test_must_fail kovl_umount mnt &&
	rm -rf lower upper work mnt
'

test_expect_success 'the EXIT trap unmounts what a script leaves behind' '
	cat >leak.sh <<-\INNER &&
	mkdir l u w m1 m2 && kovl_mount l u w m1 &&
		kovl_mount l "" "" m2
	test_expect_success "mounted" "grep -q $TRASH/m1 /proc/mounts"
	exit 0
	INNER
	run_inner leak &&
	grep "^# FATAL: unexpected exit with code 0" leak.out &&
	echo 1 >expect.rc && test_cmp expect.rc leak.rc &&
	test_must_fail grep -q "$TRASH/tmp/" /proc/mounts &&
	rmdir tmp
'

test_expect_success 'a mount made without the helpers is unmounted and flagged' '
	cat >stray.sh <<-\INNER &&
	mkdir m && mount -t tmpfs none m
	test_done
	INNER
	run_inner stray &&
	grep "^# unmounting stray mount .*/m\$" stray.out &&
	echo 1 >expect.rc && test_cmp expect.rc stray.rc &&
	test_must_fail grep -q "$TRASH/tmp/" /proc/mounts &&
	rmdir tmp
'

test_expect_success 'treedump of a known tree' '
	mkdir -p t/d/e t/g &&
	printf "hi\\n" >t/d/f && ln t/d/f t/h && : >t/empty &&
	ln -s "x y" t/s && mkfifo t/p && mknod t/w c 0 0 &&
	mknod t/blk b 7 200 && chmod 2750 t/g && chmod 4711 t/d/f &&
	chown 7:8 t/empty &&
	setfattr -n user.b -v 2 t/g && setfattr -n user.a -v hi t/g &&
	setfattr -n trusted.overlay.opaque -v y t/g &&
	touch -h -d "@1500000000.123456789" t/s &&
	cat >expect <<-\EOF &&
	. d 0755 uid=0 gid=0
	blk b 0644 uid=0 gid=0 nlink=1 rdev=7:200
	d d 0755 uid=0 gid=0
	d/e d 0755 uid=0 gid=0
	d/f f 4711 uid=0 gid=0 size=3 nlink=2 xxh64=d50463dd92503d34 link=d/f
	empty f 0644 uid=7 gid=8 size=0 nlink=1 xxh64=ef46db3751d8e999
	g d 2750 uid=0 gid=0 xattr:user.a=6869 xattr:user.b=32
	h f 4711 uid=0 gid=0 size=3 nlink=2 xxh64=d50463dd92503d34 link=d/f
	p p 0644 uid=0 gid=0 nlink=1
	s l 0777 uid=0 gid=0 size=3 nlink=1 target=x\x20y
	w c 0644 uid=0 gid=0 nlink=1 rdev=0:0
	EOF
	treedump t >actual &&
	test_cmp expect actual &&
	treedump -x t >actual &&
	grep "^g d 2750 uid=0 gid=0 xattr:trusted.overlay.opaque=79 xattr:user.a=6869 xattr:user.b=32\$" actual &&
	treedump -m t >actual &&
	grep "^s l .* mtime_ns=1500000000123456789\$" actual
'

test_expect_success 'treedump link tags do not depend on inode numbers' '
	mkdir t1 t2 &&
	echo x >t1/z && ln t1/z t1/a && ln t1/z t1/m &&
	echo x >t2/a && ln t2/a t2/m && ln t2/a t2/z &&
	treedump t1 >d1 && treedump t2 >d2 && test_cmp d1 d2 &&
	grep -c "link=a\$" d1 >count && echo 3 >expect && test_cmp expect count
'

test_expect_success 'treedump errors: one line, exit 1' '
	test_expect_code 1 treedump no-such-dir 2>err &&
	echo "treedump: no-such-dir: No such file or directory" >expect &&
	test_cmp expect err &&
	test_expect_code 2 treedump 2>err
'

test_expect_success 'sample layers: kernel and OCI formats agree after oci_to_kernel' '
	oracle_make_layers K 4 kernel &&
	oracle_make_layers O 4 oci &&
	test_path_is_file O/2/d/.wh..wh..opq && test_path_is_file O/0/.wh.e &&
	test_is_whiteout K/0/e && test_is_opaque K/2/d &&
	for i in 0 1 2 3; do
		oci_to_kernel O/$i C/$i &&
		treedump -x K/$i >k.$i &&
		treedump -x C/$i >c.$i &&
		test_cmp k.$i c.$i || return 1
	done
'

test_expect_success 'sample layers: merged view' '
	oracle_merged_copy "$(oracle_lowers K 4)" merged &&
	test_path_is_missing merged/e &&
	test_path_is_missing merged/a/f &&
	test_path_is_missing merged/a/d &&
	test_path_is_missing merged/b/c/d &&
	test_path_is_missing merged/d/a &&
	test_path_is_file merged/d/c && test_path_is_file merged/d/d &&
	test_path_is_dir merged/a/a && test_path_is_dir merged/c &&
	echo "top a/a/b" >expect && test_cmp expect merged/a/a/b &&
	echo "middle a/b" >expect && test_cmp expect merged/a/b &&
	test "$(stat -c %i merged/b/a)" = "$(stat -c %i merged/b/b)"
'

test_expect_success 'randops: same seed, same log and tree; other seed differs' '
	cp -a merged r1 && cp -a merged r2 && cp -a merged r3 &&
	randops -s 42 -n 1500 -R r1 >log1 &&
	randops -s 42 -n 1500 -R r2 >log2 &&
	randops -s 43 -n 1500 -R r3 >log3 &&
	test_cmp log1 log2 &&
	treedump r1 >r1.dump && treedump r2 >r2.dump &&
	test_cmp r1.dump r2.dump &&
	test_must_fail cmp -s log1 log3 &&
	test "$(grep -c " = ok" log1)" -gt 200 &&
	for op in create truncwrite append pwrite truncate read mkdir rmdir \
		unlink rename link symlink readlink mkfifo chmod chown utimens \
		setxattr removexattr getxattr listxattr stat lstat readdir \
		hold fdread fdwrite fdstat close; do
		grep -q "^[0-9]* $op .* = ok" log1 ||
		{ echo "never succeeded: $op"; return 1; }
	done &&
	grep -q " exchange = ok" log1 && grep -q " noreplace = ok" log1
'

test_expect_success 'randops -k continues a run exactly; -b marks batches' '
	cp -a merged k1 && cp -a merged k2 &&
	randops -s 7 -n 600 -R k1 >full &&
	randops -s 7 -n 256 -R k2 >part &&
	randops -s 7 -k 256 -n 600 -R k2 >>part &&
	test_cmp full part &&
	treedump k1 >k1.dump && treedump k2 >k2.dump &&
	test_cmp k1.dump k2.dump &&
	test_expect_code 2 randops -s 7 -k 250 -n 600 k2 &&
	rm -rf k1 && cp -a merged k1 &&
	randops -s 7 -n 600 -b 100 -R k1 >batched &&
	grep "^# batch" batched >marks &&
	printf "# batch %s\\n" 1 2 3 4 5 6 >expect && test_cmp expect marks &&
	grep -v "^#" batched >unbatched && test_cmp full unbatched
'

test_expect_success 'randops -R controls directory renames' '
	for fl in "" -R; do
		rm -rf ku kw km && mkdir ku kw km &&
		kovl_mount "$(oracle_lowers K 4)" ku kw km &&
		randops -s 5 -n 1500 $fl km >log$fl &&
		kovl_umount km || return 1
	done &&
	grep -q " = skip-dir\$" log &&
	test_must_fail grep " = EXDEV\$" log &&
	test_must_fail grep -q " = skip-dir\$" log-R &&
	grep -q " = EXDEV\$" log-R
'

# The real test of the generator: the kernel's overlayfs with index=on
# behaves like a plain directory, so the logs must match op for op.
for opts in "index=on" "index=on,redirect_dir=on,metacopy=on"; do
	test_expect_success "randops: kernel overlay ($opts) = plain directory" '
		case $opts in *redirect_dir=on*) fl=-R ;; *) fl= ;; esac &&
		for seed in 1 2 3; do
			rm -rf ku kw km plain &&
			mkdir ku kw km &&
			cp -a merged plain &&
			kovl_mount "$(oracle_lowers K 4)" ku kw km "$opts" &&
			randops -s $seed -n 1500 $fl km >k.log &&
			randops -s $seed -n 1500 $fl plain >p.log &&
			treedump km >k.dump && treedump plain >p.dump &&
			kovl_umount km &&
			oracle_cmp "seed $seed: logs" k.log p.log kernel plain &&
			oracle_cmp "seed $seed: trees" k.dump p.dump kernel plain ||
			return 1
		done
	'
done

test_expect_success 'oracle_normalise_upper drops only bookkeeping' '
	cat >dump <<-\EOF &&
	. d 0755 uid=0 gid=0 xattr:trusted.overlay.origin=00 xattr:trusted.overlay.uuid=11
	a f 0644 uid=0 gid=0 size=1 nlink=2 xxh64=00 link=a xattr:user.x=31
	b f 0644 uid=0 gid=0 size=1 nlink=3 xxh64=00 link=b
	c f 0644 uid=0 gid=0 size=1 nlink=3 xxh64=00 link=b
	d d 0755 uid=0 gid=0 xattr:trusted.overlay.impure=79 xattr:trusted.overlay.opaque=79
	m f 0644 uid=0 gid=0 size=9 nlink=1 xxh64=12 xattr:trusted.overlay.metacopy=
	r d 0755 uid=0 gid=0 xattr:trusted.overlay.redirect=2f78
	EOF
	cat >expect <<-\EOF &&
	. d 0755 uid=0 gid=0
	a f 0644 uid=0 gid=0 size=1 xxh64=00 xattr:user.x=31
	b f 0644 uid=0 gid=0 size=1 xxh64=00
	c f 0644 uid=0 gid=0 size=1 xxh64=00 link=b
	d d 0755 uid=0 gid=0
	m f 0644 uid=0 gid=0 size=9
	r d 0755 uid=0 gid=0
	EOF
	oracle_normalise_upper <dump >actual &&
	test_cmp expect actual
'

# The contract with the daemon, when it is built: lfs_mount finds the
# daemon, lfs_umount waits for it to exit.
test -x "$LAYERFS" && test -c /dev/fuse && test_set_prereq LAYERFS

test_expect_success LAYERFS 'lfs_mount records the daemon, lfs_umount reaps it' '
	mkdir -p ll lu lm &&
	echo x >ll/a &&
	lfs_mount ll lu lm &&
	test_path_is_dir "$(lfs_workdir lu)" &&
	grep -q " $TRASH/lm fuse.layerfs " /proc/mounts &&
	pids=$(lfs_daemon_pids lm) && test -n "$pids" &&
	for p in $pids; do kill -0 $p || return 1; done &&
	echo x >expect && test_cmp expect lm/a &&
	lfs_umount lm &&
	test_must_fail grep -q " $TRASH/lm " /proc/mounts
'

test_expect_success LAYERFS 'lfs_mount -f and lfs_mount_ro' '
	mkdir -p fl fu fm rm &&
	echo y >fl/b &&
	lfs_mount -f fl fu fm &&
	echo y >expect && test_cmp expect fm/b &&
	lfs_umount fm &&
	lfs_mount_ro fl rm &&
	test_cmp expect rm/b &&
	test_must_fail sh -c "echo z >rm/c" &&
	lfs_umount rm
'

test_done
