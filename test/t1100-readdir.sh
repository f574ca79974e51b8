#!/bin/bash
# shellcheck disable=SC2016 # test bodies are single-quoted on purpose
test_description='readdir: merged names, d_type, d_ino, seekdir, concurrency

Layers are built in L/ and mounted by layerfs (f/m) and, where the kernel
defines the answer, by kernel overlayfs (k/m) on an identical copy.'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIR/lib-oracle.sh"
. "$TEST_DIR/lib-pair.sh"
test_skip_unless_root
test_need_layerfs
test_need_helpers
test_need_kovl
pair_need_fsop
export LC_ALL=C

# Every directory of MNT, "." first.
all_dirs() {
	(cd "$1" && find . -type d | sort)
}

# listings MNT: "ls -a -f" (one unsorted readdir pass) of every directory.
listings() {
	local d
	all_dirs "$1" | while IFS= read -r d; do
		echo "== $d"
		ls -a -f "$1/$d" | sort
	done
}

# dirents_all MNT: fsop dirents of every directory of MNT.
dirents_all() {
	local d
	all_dirs "$1" | while IFS= read -r d; do
		echo "== $d"
		fsop dirents "$1/$d"
	done
}

# d_ino must equal st_ino and d_type must be the file type for every entry
# (fsop dirents prints type= in decimal and mode= in octal, both S_IFMT >>
# 12); ".." of the mount root is outside the mount.
check_dirents() { # DUMP
	local bad
	bad=$(awk '
		/^== / { dir = $2; next }
		dir == "." && $1 == ".." { next }
		{
			m = substr($4, 6); t = 0
			for (i = 1; i <= length(m); i++)
				t = t * 8 + substr(m, i, 1)
			if ($3 != "ino=same" || $2 != "type=" t)
				print dir ": " $0
		}' "$1")
	[ -z "$bad" ] && return 0
	echo "entries with d_ino != st_ino or a wrong d_type:"
	printf '%s\n' "$bad"
	return 1
}

mklayers_merge() {
	mkdir -p L/0/d/sub L/1/d/sub L/2/d/sub L/u/d L/2/e L/1/o L/2/o &&
		echo 0 >L/0/d/a && echo 1 >L/1/d/a && echo 2 >L/2/d/a &&
		echo 1 >L/1/d/b && echo 2 >L/2/d/c && echo u >L/u/d/u &&
		echo 0 >L/0/d/sub/x && echo 1 >L/1/d/sub/x && echo 2 >L/2/d/sub/y &&
		mknod L/0/d/c c 0 0 && echo 2 >L/2/d/gone && mknod L/u/d/gone c 0 0 &&
		echo 2 >L/2/e/e && echo 1 >L/1/o/o1 && echo 2 >L/2/o/o2 &&
		setfattr -n trusted.overlay.opaque -v y L/1/o &&
		mkdir L/1/d/t && echo file >L/2/d/t &&
		echo file >L/0/d/r && mkdir L/1/d/r && echo 1 >L/1/d/r/in
}

test_expect_success 'a merged directory lists each name once, as the kernel does' '
	fresh && mklayers_merge && pair_setup 3 && pair_mount &&
	test_when_finished "pair_umount" &&
	listings k/m >k.list && listings f/m >f.list &&
	oracle_cmp "listings" k.list f.list &&
	for d in $(all_dirs f/m); do
		ls -a -f f/m/$d | sort | uniq -d >dups &&
		test_must_fail test -s dups || return 1
	done &&
	printf "%s\n" . .. a b r sub t u >expect &&
	ls -a -f f/m/d | sort >actual && test_cmp expect actual
'

mklayers_types() {
	mkdir -p L/0/d L/1/d L/2/d L/u/d &&
		echo f >L/2/d/reg && mkdir L/2/d/dir && ln -s reg L/2/d/lnk &&
		mkfifo L/2/d/fifo && fsop mknod L/2/d/sock sock 644 >/dev/null &&
		mknod L/2/d/chr c 1 3 && mknod L/2/d/blk b 7 0 &&
		mkdir L/1/d/dir_over_file && echo f >L/2/d/dir_over_file &&
		echo f >L/1/d/file_over_dir && mkdir L/2/d/file_over_dir &&
		ln -s x L/0/d/lnk_over_dir && mkdir L/1/d/lnk_over_dir &&
		mkfifo L/0/d/fifo_over_reg && echo f >L/1/d/fifo_over_reg &&
		mkdir L/u/d/udir_over_reg && echo f >L/0/d/udir_over_reg &&
		ln -s y L/u/d/ulnk_over_dir && mkdir L/0/d/ulnk_over_dir &&
		echo f >L/0/d/ureg && fsop mknod L/u/d/usock sock 644 >/dev/null &&
		mkdir L/0/d/m L/1/d/m && echo x >L/0/d/m/x && ln -s z L/1/d/m/z
}

test_expect_success 'd_type is the type of the entry, as on the kernel' '
	fresh && mklayers_types && pair_setup 3 && pair_mount &&
	test_when_finished "pair_umount" &&
	dirents_all f/m >f.dirents && check_dirents f.dirents &&
	dirents_all k/m | sed "s/ ino=[a-zA-Z]*//" >k.types &&
	sed "s/ ino=[a-zA-Z]*//" f.dirents >f.types &&
	oracle_cmp "d_type and st_mode" k.types f.types &&
	grep -c "^" f.types >count && test "$(cat count)" -ge 20
'

test_expect_success 'd_ino == st_ino for every entry, after copy-ups and after a remount' '
	fresh && mklayers_types && mklayers_merge &&
	echo h >L/1/d/h1 && ln L/1/d/h1 L/1/d/h2 &&
	pair_setup 3 && lfs_mount "$LF" f/u f/m &&
	test_when_finished "test_umount_all" &&
	dirents_all f/m >before && check_dirents before &&
	chmod 600 f/m/d/reg && echo more >>f/m/d/a && touch f/m/d/sub/new &&
	chown -h 1:1 f/m/d/lnk && chmod 700 f/m/d/m && chmod 600 f/m/d/h1 &&
	ln f/m/d/b f/m/d/b.link && mkdir f/m/newdir &&
	ln f/m/d/sub/x f/m/newdir/x.link && ln f/m/e/e f/m/newdir/e.link &&
	mv f/m/d/sub f/m/sub.moved &&
	mv f/m/e/e f/m/newdir/e.moved && mkfifo f/m/d/newfifo &&
	touch -h -d @5 f/m/d/fifo && chmod 600 f/m/d/chr &&
	dirents_all f/m >after && check_dirents after &&
	lfs_umount f/m && lfs_mount "$LF" f/u f/m &&
	dirents_all f/m >remount && check_dirents remount &&
	sed "s/ ino=[a-zA-Z]*//" after >a.types &&
	sed "s/ ino=[a-zA-Z]*//" remount >r.types &&
	test_cmp a.types r.types &&
	ls -laR f/m >/dev/null && dirents_all f/m >warm && check_dirents warm
'

mklayers_many() {
	local i
	mkdir -p L/0/d L/1/d L/2/d || return 1
	for ((i = 0; i < 300; i++)); do
		if [ $i -lt 100 ]; then
			echo 0 >L/0/d/n$i
		elif [ $i -lt 200 ]; then
			echo 1 >L/1/d/n$i
		else
			echo 2 >L/2/d/n$i
		fi
		# every tenth name also lives below the layer that shows it
		[ $((i % 10)) = 0 ] && [ $i -lt 200 ] && echo 2 >L/2/d/n$i
	done
	for ((i = 0; i < 20; i++)); do
		echo 2 >L/2/d/gone$i && mknod L/0/d/gone$i c 0 0 || return 1
	done
}

test_expect_success 'telldir/seekdir on a merged directory of 300 entries' '
	fresh && mklayers_many && pair_setup 3 && lfs_mount "$LF" f/u f/m &&
	test_when_finished "lfs_umount f/m" &&
	test "$(ls -A f/m/d | wc -l)" = 300 &&
	for round in cold warm; do
		fsop seekdir f/m/d >seek &&
		sed -n 1p seek >a && sed -n 2p seek >b && test_cmp a b &&
		tr " " "\n" <a | grep . >names &&
		test "$(wc -l <names)" -ge 140 &&
		sort names | uniq -d >dups && test_must_fail test -s dups ||
		return 1
	done &&
	for i in $(seq 0 9); do echo new >f/m/d/new$i || return 1; done &&
	rm f/m/d/n5 f/m/d/n150 f/m/d/n250 &&
	fsop seekdir f/m/d >seek &&
	sed -n 1p seek >a && sed -n 2p seek >b && test_cmp a b &&
	test "$(ls -A f/m/d | wc -l)" = 307
'

test_expect_success 'a directory read while it changes never lists a name twice' '
	fresh && mkdir -p L/0/d L/1/d &&
	for i in $(seq 1000 1999); do echo 0 >L/0/d/s$i || return 1; done &&
	for i in $(seq 1000 1999); do echo 1 >L/1/d/t$i || return 1; done &&
	for i in $(seq 10 59); do echo 1 >L/1/d/v$i || return 1; done &&
	pair_setup 2 && lfs_mount "$LF" f/u f/m &&
	(cd L && find 0/d 1/d -name "[st]*" -printf "%f\n" | sort) >stable &&
	rm -f stop || return 1
	(
		i=0
		while [ ! -e stop ]; do
			i=$(( (i + 1) % 50 ))
			j=$(( (i + 25) % 50 + 10 ))
			: >f/m/d/new$i && rm -f f/m/d/new$(( (i + 25) % 50 )) &&
			rm -f f/m/d/v$((i + 10)) && echo again >f/m/d/v$j &&
			mkdir -p f/m/d/dir$i && rmdir f/m/d/dir$(( (i + 25) % 50 )) 2>/dev/null
			:
		done
	) >writer.log 2>&1 &
	writer=$!
	test_when_finished "touch stop; wait $writer; lfs_umount f/m" &&
	end=$((SECONDS + 8)) && passes=0 &&
	while [ $SECONDS -lt $end ]; do
		ls -a -f f/m/d >pass || return 1
		sort pass | uniq -d >dups &&
		if [ -s dups ]; then echo "listed twice:"; cat dups; return 1; fi &&
		grep -E "^[st][0-9]+$" pass | sort >seen &&
		test_cmp stable seen &&
		passes=$((passes + 1)) || return 1
	done &&
	echo "$passes passes" &&
	test "$passes" -ge 5
'

# 2000+ entries of every kind, spread over three layers and the upper.
mklayers_big() {
	local i n
	mkdir -p L/0/big L/1/big L/2/big L/u/big || return 1
	for ((i = 0; i < 2400; i++)); do
		n=L/$((i % 3))/big/e$i
		case $((i % 8)) in
		0 | 1 | 2) printf "%0$((i % 50))d" 0 >"$n" ;;
		3) ln -s "target$i" "$n" ;;
		4) mkdir "$n" && : >"$n/in" ;;
		5) mkfifo "$n" ;;
		6) : >"$n" ;;
		7) head -c $((i * 3)) /dev/zero >"$n" 2>/dev/null ;;
		esac || return 1
	done
	# a few names in two layers, merged dirs, whiteouts, upper entries
	for ((i = 0; i < 2400; i += 37)); do
		echo up >L/u/big/u$i || return 1
	done
	for ((i = 4; i < 400; i += 24)); do
		mkdir -p "L/0/big/e$i" && : >"L/0/big/e$i/top" || return 1
	done
	for ((i = 2; i < 400; i += 30)); do
		mknod "L/u/big/e$i" c 0 0 || return 1
	done
	(
		cd L/1/big &&
			find . -maxdepth 1 -name "e*[02468]" -print0 |
			xargs -0 chown -h 1000:100 &&
			find . -maxdepth 1 -type f -name "e*5" -print0 |
			xargs -0 chmod 4750 &&
			find . -maxdepth 1 -name "e*1" -print0 |
			xargs -0 touch -h -d @1234567890.123456789
	) &&
	(
		cd L/2/big &&
			find . -maxdepth 1 -name "e*3" -print0 |
			xargs -0 touch -h -d "2001-02-03 04:05:06.789" &&
			find . -maxdepth 1 -type d -print0 | xargs -0 chmod 1777
	)
}

test_expect_success 'ls -l of 2000+ merged entries equals the kernel listing' '
	fresh && mklayers_big && pair_setup 3 && pair_mount &&
	test_when_finished "pair_umount" &&
	ls -ln --time-style=full-iso k/m/big >k.ls &&
	ls -ln --time-style=full-iso f/m/big >f.ls &&
	test "$(wc -l <f.ls)" -ge 2000 &&
	oracle_cmp "ls -ln" k.ls f.ls &&
	pair_remount &&
	ls -ln --time-style=full-iso f/m/big >f.ls2 &&
	oracle_cmp "ls -ln after a remount" k.ls f.ls2 &&
	ls -ln --time-style=full-iso f/m/big >f.ls3 &&
	oracle_cmp "ls -ln (warm)" k.ls f.ls3
'

test_done
