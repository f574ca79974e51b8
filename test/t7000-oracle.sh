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

# Layerfs always renames directories (redirect_dir=on) and breaks lower
# hard links at copy-up as the kernel does without index=on.
for seed in $seeds; do
	test_expect_success "seed $seed: $ops ops, kernel with redirect_dir=on" "
		oracle_run $seed $ops redirect_dir=on
	"
done
for seed in $seeds; do
	test_expect_success "seed $seed: $ops ops on OCI-format layers" "
		ORACLE_FORMAT=oci oracle_run $((seed + 100)) $ops redirect_dir=on
	"
done
test_done
