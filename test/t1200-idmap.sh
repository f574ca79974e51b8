#!/bin/bash
test_description='id mapping for container engines: uidmapping, gidmapping, squash_to_*

The layers hold container ids and the mount shows host ids; ids written
through the mount are stored unmapped.'
. "$(dirname "$0")/test-lib.sh"
test_skip_unless_root
test_need_layerfs

test_expect_success 'uidmapping and gidmapping show stored ids through the ranges' '
	test_when_finished "test_umount_all" &&
	mkdir l u m && echo a >l/f && chown 3:4 l/f && echo b >l/out &&
	chown 500:500 l/out &&
	lfs_mount -o uidmapping=:0:1000:10,gidmapping=0:2000:10 l u m &&
	test "$(stat -c %u:%g m/f)" = 1003:2004 &&
	test "$(stat -c %u:%g m)" = 1000:2000 &&
	test "$(stat -c %u:%g m/out)" = 65534:65534
'

test_expect_success 'ids written through the mount are stored unmapped' '
	test_when_finished "test_umount_all" &&
	mkdir -p l2 u2 m2 && echo a >l2/f && chmod 777 u2 &&
	lfs_mount -o uidmapping=:0:1000:10:100:3000:5,gidmapping=:0:2000:10 l2 u2 m2 &&
	(cd m2 && setpriv --reuid=1001 --regid=2002 --clear-groups \
		sh -c "echo hi >new") &&
	test "$(stat -c %u:%g u2/new)" = 1:2 &&
	test "$(stat -c %u:%g m2/new)" = 1001:2002 &&
	chown 3002:2005 m2/f &&
	test "$(stat -c %u:%g u2/f)" = 102:5 &&
	test "$(stat -c %u:%g m2/f)" = 3002:2005
'

test_expect_success 'squash_to_uid and squash_to_gid show one owner, store the real one' '
	test_when_finished "test_umount_all" &&
	mkdir -p l3 u3 m3 && echo a >l3/f && chown 7:8 l3/f &&
	lfs_mount -o squash_to_uid=4242,squash_to_gid=4343 l3 u3 m3 &&
	test "$(stat -c %u:%g m3/f)" = 4242:4343 &&
	test "$(stat -c %u:%g m3)" = 4242:4343 &&
	echo more >>m3/f && test "$(stat -c %u:%g u3/f)" = 7:8
'

test_expect_success 'bad mappings are refused with one line naming the option' '
	mkdir -p l4 u4 m4 &&
	for o in uidmapping=0:1000 gidmapping=a:b:c uidmapping=0:1:0 \
		squash_to_uid=x; do
		test_must_fail "$LAYERFS" mount -o "workdir=$TRASH/w4,$o" \
			l4 u4 m4 2>err &&
		test "$(wc -l <err)" = 1 && grep -q "${o%%=*}" err || return 1
	done &&
	! mountpoint -q m4 && test_path_is_missing w4
'

test_done
