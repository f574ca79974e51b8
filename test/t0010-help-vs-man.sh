#!/bin/bash
# shellcheck disable=SC2016 # test bodies are single-quoted on purpose
# shellcheck disable=SC2317 # shellcheck thinks skip_all never returns
# shellcheck source-path=SCRIPTDIR

test_description='usage texts, fs/opts.c and the man pages agree'

# shellcheck source=test-lib.sh
. "$(dirname "$0")/test-lib.sh"

TOP=$(cd "$TEST_DIR/.." && pwd -P)
# shellcheck disable=SC2034 # used in the test bodies
MAN=$TOP/man

[ -x "$LAYERFS" ] || skip_all "layerfs is not built ($LAYERFS)"
command -v mandoc >/dev/null && test_set_prereq MANDOC

# --- helpers ------------------------------------------------------------

# Collapses runs of blanks, trims the ends.
normalise() {
	sed -e 's/[[:space:]][[:space:]]*/ /g' -e 's/^ //' -e 's/ $//'
}

# render PAGE: the page as mandoc -Tascii shows it, without overstrikes.
render() {
	mandoc -Tascii "$1" | sed -e "s/.$(printf '\b')//g"
}

# synopsis PAGE: one line per SYNOPSIS entry of the rendered page
# (continuation lines joined), whitespace-normalised.
synopsis() {
	render "$1" | awk '
		/^[^ ]/ {
			if (in_syn && cur != "") print cur
			cur = ""
			in_syn = ($0 == "SYNOPSIS")
			next
		}
		!in_syn || /^[[:space:]]*$/ { next }
		/^     [^ ]/ { if (cur != "") print cur; cur = $0; next }
		{ cur = cur " " $0 }
		END { if (in_syn && cur != "") print cur }
	' | normalise
}

# usage_lines: the "usage:" and "or:" lines of a --help text on stdin.
usage_lines() {
	sed -n -e 's/^usage: //p' -e 's/^ *or: //p' | normalise
}

# help_mount_opts [full]: the -o options listed by "layerfs mount --help",
# as NAME (or NAME=ARG with "full"), one a line.
help_mount_opts() {
	"$LAYERFS" mount --help | awk -v full="${1:-}" '
		/^[[:space:]]*-o OPTIONS/ { in_o = 1; next }
		in_o && /^[[:space:]]*-/ { in_o = 0 }
		!in_o { next }
		{
			match($0, /^[[:space:]]*/)
			if (RLENGTH >= 20) next	# a continued description
			if ($1 !~ /^[a-z_]+(=[A-Z]+)?$/) next
			if (!full) sub(/=.*/, "", $1)
			print $1
		}
	' | sort -u
}

# man_items PAGE SH [SS]: the option names of the ".It Cm ..." items in
# section SH (and subsection SS; none: before the first .Ss) of the mdoc
# source PAGE.  A name ending in "-" is a prefix ("x-").
man_items() {
	awk -v want_sh="$2" -v want_ss="${3:-}" '
		/^\.Sh / { sh = substr($0, 5); ss = ""; next }
		/^\.Ss / { ss = substr($0, 5); next }
		/^\.It / && sh == want_sh && ss == want_ss {
			cm = 0
			for (i = 2; i <= NF; i++) {
				if ($i == "Cm") cm = 1
				else if ($i ~ /^[A-Z][a-z][a-z]?$/) cm = 0
				else if (cm && $i ~ /^[a-z_][a-z0-9_.-]*$/) print $i
			}
		}
	' "$1" | sort -u
}

# code_list NAME: the strings of the array NAME[] in fs/opts.c.
code_list() {
	sed -n "/ $1\[\] = {/,/};/p" "$TOP/fs/opts.c" |
		grep -o '"[^"]*"' | tr -d '"' | sort -u
}

# code_prefixes: the option prefixes parse_o accepts and ignores
# (strncmp(opt, "x-", 2) ...), "comment=" as "comment".
code_prefixes() {
	grep -o 'strncmp(opt, "[^"]*"' "$TOP/fs/opts.c" |
		sed -e 's/.*"\(.*\)"/\1/' -e 's/=$//' | sort -u
}

# help_commands: the commands "layerfs --help" lists.
help_commands() {
	"$LAYERFS" --help | awk '
		/^commands:/ { c = 1; next }
		c && /^[[:space:]]*$/ { exit }
		c { print $1 }
	' | sort -u
}

# nonempty FILE WHAT: FILE must not be empty.
nonempty() {
	[ -s "$1" ] && return 0
	echo "found no $2" >&2
	return 1
}

# --- (a) SYNOPSIS = usage -----------------------------------------------

test_expect_success MANDOC 'layerfs-mount.1 SYNOPSIS is the usage of mount --help' '
	"$LAYERFS" mount --help | usage_lines >expect &&
	nonempty expect "usage lines in layerfs mount --help" &&
	test "$(wc -l <expect)" = 2 &&
	synopsis "$MAN/layerfs-mount.1" >actual &&
	test_cmp expect actual
'

test_expect_success MANDOC 'layerfs.1 SYNOPSIS has every usage line of --help' '
	"$LAYERFS" --help | usage_lines | tr -d "<>" >expect &&
	nonempty expect "usage lines in layerfs --help" &&
	synopsis "$MAN/layerfs.1" >synopsis &&
	{ grep -vxF -f synopsis expect >missing || :; } &&
	test_cmp /dev/null missing
'

# --- (b) -o options -------------------------------------------------------

test_expect_success 'every -o option of mount --help is in MOUNT OPTIONS' '
	help_mount_opts >help &&
	nonempty help "-o options in layerfs mount --help" &&
	man_items "$MAN/layerfs-mount.1" "MOUNT OPTIONS" >man &&
	nonempty man "items in MOUNT OPTIONS of layerfs-mount.1" &&
	comm -23 help man >undocumented &&
	test_cmp /dev/null undocumented
'

test_expect_success 'every option in MOUNT OPTIONS is in mount --help or ignored' '
	help_mount_opts >help &&
	man_items "$MAN/layerfs-mount.1" "MOUNT OPTIONS" >man &&
	man_items "$MAN/layerfs-mount.1" "MOUNT OPTIONS" \
		"Options accepted and ignored" >ignored &&
	sort -u help ignored >known &&
	comm -23 man known >unknown &&
	test_cmp /dev/null unknown
'

test_expect_success 'the page lists the options passed on as fs/opts.c does' '
	code_list passed_on >expect &&
	nonempty expect "passed_on[] in fs/opts.c" &&
	man_items "$MAN/layerfs-mount.1" "MOUNT OPTIONS" \
		"Options passed on to the kernel" >actual &&
	test_cmp expect actual
'

test_expect_success 'the page lists the options ignored as fs/opts.c does' '
	code_list ignored >list &&
	nonempty list "ignored[] in fs/opts.c" &&
	code_prefixes >prefixes &&
	nonempty prefixes "ignored prefixes in fs/opts.c" &&
	sort -u list prefixes >expect &&
	man_items "$MAN/layerfs-mount.1" "MOUNT OPTIONS" \
		"Options accepted and ignored" >actual &&
	test_cmp expect actual
'

# Nothing must be mounted or created: the layers do not exist, so every
# run stops at the checks, after the options were parsed.
test_expect_success 'layerfs accepts every option the page documents' '
	help_mount_opts full >opts &&
	man_items "$MAN/layerfs-mount.1" "MOUNT OPTIONS" \
		"Options passed on to the kernel" >>opts &&
	man_items "$MAN/layerfs-mount.1" "MOUNT OPTIONS" \
		"Options accepted and ignored" >>opts &&
	test "$(wc -l <opts)" -gt 20 &&
	rc=0 &&
	while read -r o; do
		case $o in
		*-) o=${o}test ;;
		comment) o=comment=test ;;
		*=[A-Z]*) o=${o%%=*}=$TRASH/no/value ;;
		esac
		if "$LAYERFS" mount -o "$o" "$TRASH/no/lower" "$TRASH/no/mnt" \
			2>err; then
			echo "-o $o: exit status 0" >&2
			rc=1
		elif grep -q "unknown option" err; then
			echo "-o $o: rejected: $(cat err)" >&2
			rc=1
		fi
	done <opts &&
	test $rc = 0 &&
	test_must_fail "$LAYERFS" mount -o no_such_option_at_all \
		"$TRASH/no/lower" "$TRASH/no/mnt" 2>err &&
	grep "unknown option" err &&
	test_path_is_missing "$TRASH/no"
'

# --- (c) commands ---------------------------------------------------------

test_expect_success 'every command of --help has a man page and a --help' '
	help_commands >commands &&
	nonempty commands "commands in layerfs --help" &&
	while read -r c; do
		test_path_is_file "$MAN/layerfs-$c.1" &&
		"$LAYERFS" "$c" --help >/dev/null || return 1
	done <commands
'

test_expect_success 'every layerfs-CMD.1 page is a command of --help' '
	help_commands >commands &&
	for p in "$MAN"/layerfs-*.1; do
		p=${p##*/layerfs-} && echo "${p%.1}"
	done | sort -u >pages &&
	test_cmp commands pages
'

test_expect_success 'layerfs.1 COMMANDS lists the commands of --help' '
	help_commands >expect &&
	man_items "$MAN/layerfs.1" COMMANDS >actual &&
	test_cmp expect actual
'

# --- (d) lint -------------------------------------------------------------

test_expect_success MANDOC 'mandoc -Tlint -Wwarning is clean on every page' '
	set -- "$MAN"/*.[1-8] &&
	test $# -ge 3 &&
	mandoc -Tlint -Wwarning "$@" >lint 2>&1 &&
	test_cmp /dev/null lint
'

test_done
