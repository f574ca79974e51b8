#!/bin/bash
test_description='kernel overlayfs as the oracle: seeded random operations

The same random operations run on a kernel overlay mount and on a layerfs
mount of identical layers; the op results, the visible trees, the upper
dirs, the trees after a remount and each side reading the other side'\''s
upper must agree.  LFS_ORACLE_SEEDS and LFS_ORACLE_OPS widen the run.'
. "$(dirname "$0")/test-lib.sh"
. "$TEST_DIR/lib-oracle.sh"
test_skip_unless_root
test_need_layerfs
test_need_helpers
test_need_kovl

seeds=${LFS_ORACLE_SEEDS:-"1 2 3"}
ops=${LFS_ORACLE_OPS:-1000}

# Layerfs always renames directories (redirect_dir=on) and keeps lower
# hard links across copy-up (index=on).
kopts=redirect_dir=on,index=on
for seed in $seeds; do
	test_expect_success "seed $seed: $ops ops, kernel with $kopts" "
		oracle_run $seed $ops $kopts
	"
done
for seed in $seeds; do
	test_expect_success "seed $seed: $ops ops on OCI-format layers" "
		ORACLE_FORMAT=oci oracle_run $((seed + 100)) $ops $kopts
	"
done
# Metadata-only copy-up.  The uppers differ in form, not in what they
# show: layerfs gives a metacopy file its data before a rename or a
# link, where the kernel records a redirect; the kernel copies up a
# file opened for writing (touch), layerfs at the first change.
for seed in $seeds; do
	test_expect_success "seed $seed: $ops ops, both with metacopy=on" "
		ORACLE_CMP_UPPER=0 oracle_run $((seed + 200)) $ops \
			$kopts,metacopy=on metacopy=on
	"
done
test_done
