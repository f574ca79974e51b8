# shellcheck shell=bash
# shellcheck disable=SC2015 # "A && B || { report; }" is meant
# Helpers of the layer-store tests (t4000, t4100), sourced after test-lib.sh.

# fresh NAME: a new directory $TRASH/NAME as cwd, with its own store.
fresh() {
	mkdir "$TRASH/$1" && cd "$TRASH/$1" &&
		export LAYERFS_STORE=$TRASH/$1/store
}

# commit_up UPPER ARGS...: commit an upper that lfs_mount used.
commit_up() {
	local up=$1
	shift
	"$LAYERFS" commit -w "$(lfs_workdir "$up")" "$@" "$up"
}

# layers: the IDs of the store's layers, sorted, one a line.
layers() {
	ls -A "$LAYERFS_STORE/layers"
}

# is_id FILE: FILE is one line of 32 hex digits.
is_id() {
	test_line_count 1 "$1" && grep -Eqx '[0-9a-f]{32}' "$1" || {
		echo "not an ID:" >&2
		cat "$1" >&2
		return 1
	}
}

# no_stage_leftovers: STORE/tmp holds nothing (prints what it holds).
no_stage_leftovers() {
	local left
	left=$(ls -A "$LAYERFS_STORE/tmp" 2>/dev/null)
	[ -z "$left" ] && return 0
	echo "left in $LAYERFS_STORE/tmp: $left" >&2
	return 1
}

# hist REF: "ID SIZE HIDDEN" per layer of REF, top first, then
# "total T wasted W", from history --json.
hist() {
	"$LAYERFS" history --json "$1" >hist.json &&
		perl -MJSON::PP -e '
			local $/;
			my $j = decode_json(<STDIN>);
			print "$_->{id} $_->{size} $_->{hidden}\n"
				for @{$j->{layers}};
			print "total $j->{total} wasted $j->{wasted}\n";
		' <hist.json
}

# view_dump REF OUT: treedump -m of a read-only mount of the image REF.
view_dump() {
	mkdir -p vmnt && lfs_mount_ro "$1" vmnt &&
		{ treedump -m vmnt >"$2" || { lfs_umount vmnt; false; }; } &&
		lfs_umount vmnt
}

# one_error FILE WORD...: FILE is one "layerfs: ..." line naming each WORD.
one_error() {
	local f=$1 w
	shift
	test_line_count 1 "$f" && grep -q '^layerfs: ' "$f" || {
		echo "wanted one 'layerfs: ...' line:" >&2
		cat "$f" >&2
		return 1
	}
	for w in "$@"; do
		grep -qF -- "$w" "$f" || {
			echo "the error does not name $w:" >&2
			cat "$f" >&2
			return 1
		}
	done
}
