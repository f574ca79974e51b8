#!/usr/bin/perl
# Turn bench.sh's raw.tsv into results.csv, results.json and a table
# on stdout.
#
#   report.pl OUTDIR
use strict;
use warnings;
use JSON::PP;

my $out = shift or die "usage: report.pl OUTDIR\n";

my @TARGETS = qw(plain kernel fuse-overlayfs unionfs-fuse layerfs);
my @ORDER = qw(mount find_cold find_warm stat_cold stat_warm ls_cold ls_warm
	lsl_cold lsl_warm seqread_cold seqread_warm seqwrite seqwrite_fsync
	randread_cold randread_warm append_big chmod_big chown_big utimes_big copyup_small
	untar create_files tar_cold tar_warm grep_cold grep_warm grep_warm2 unlink_lower rmrf par_1 par_N
	mem_walk mem_rss_start mem_rss_walked mem_rss_dropped);
my %rank;
@rank{@ORDER} = 0 .. $#ORDER;

sub slurp_tsv {
	my ($f) = @_;
	open(my $fh, '<', $f) or return ();
	my @rows;
	while (<$fh>) {
		chomp;
		next if $_ eq '';
		push @rows, [split /\t/, $_, -1];
	}
	return @rows;
}

my %meta = map { $_->[0] => $_->[1] } slurp_tsv("$out/meta.tsv");
my @vers = slurp_tsv("$out/versions.tsv");
my %version = map { $_->[0] => $_->[1] } @vers;
my @ran = map { $_->[0] } grep { $_->[1] !~ /^SKIPPED/ } @vers;

# raw: target metric run value unit cpu_s peak_rss_kib note
my (@raw, %cell, %seen_metric, %note);
for my $r (slurp_tsv("$out/raw.tsv")) {
	my ($t, $m, $run, $v, $unit, $cpu, $hwm, $n) = @$r;
	$n //= '';
	if ($unit eq 'count') {    # sanity notes (entries seen)
		$note{$m}{$t} = $n;
		next;
	}
	push @raw, {
		target => $t, metric => $m, run => $run + 0,
		value => ($v eq 'FAIL' ? undef : $v + 0), unit => $unit,
		daemon_cpu_s => ($cpu < 0 ? undef : $cpu + 0),
		daemon_peak_rss_mib => ($hwm < 0 ? undef : sprintf('%.1f', $hwm / 1024) + 0),
		($n ne '' ? (note => $n) : ()),
	};
	$seen_metric{$m} = 1;
	push @{$cell{$m}{$t}}, $raw[-1];
}

sub median {
	my @v = sort { $a <=> $b } @_;
	return undef unless @v;
	return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

my @metrics = sort { ($rank{$a} // 999) <=> ($rank{$b} // 999) || $a cmp $b } keys %seen_metric;
my @targets = grep { my $t = $_; grep { $_ eq $t } @ran } @TARGETS;

my %res;    # metric => target => summary
for my $m (@metrics) {
	for my $t (@targets) {
		my $runs = $cell{$m}{$t} or next;
		my @ok = map { $_->{value} } grep { defined $_->{value} } @$runs;
		my @cpu = map { $_->{daemon_cpu_s} } grep { defined $_->{daemon_cpu_s} } @$runs;
		my @hwm = map { $_->{daemon_peak_rss_mib} } grep { defined $_->{daemon_peak_rss_mib} } @$runs;
		my ($lo, $hi) = @ok ? ((sort { $a <=> $b } @ok)[0, -1]) : (undef, undef);
		my $med = median(@ok);
		$res{$m}{$t} = {
			metric => $m, target => $t, unit => $runs->[0]{unit},
			runs => scalar @ok, failures => @$runs - @ok,
			median => $med, min => $lo, max => $hi,
			spread_pct => (defined $med && $med > 0 ? 100 * ($hi - $lo) / 2 / $med : undef),
			daemon_cpu_s => median(@cpu),
			daemon_peak_rss_mib => (@hwm ? (sort { $b <=> $a } @hwm)[0] : undef),
		};
	}
	for my $t (@targets) {
		my $r = $res{$m}{$t} or next;
		for ([kernel => 'ratio_kernel'], ['fuse-overlayfs' => 'ratio_fuse_overlayfs']) {
			my ($ref, $k) = @$_;
			my $b = $res{$m}{$ref};
			$r->{$k} = (defined $r->{median} && $b && defined $b->{median} && $b->{median} > 0)
				? $r->{median} / $b->{median} : undef;
		}
	}
}

# ---- CSV ----------------------------------------------------------------
my @cols = qw(metric target unit runs failures median min max spread_pct
	ratio_kernel ratio_fuse_overlayfs daemon_cpu_s daemon_peak_rss_mib);
open(my $csv, '>', "$out/results.csv") or die "$out/results.csv: $!\n";
print $csv join(',', @cols), "\n";
for my $m (@metrics) {
	for my $t (@targets) {
		my $r = $res{$m}{$t} or next;
		print $csv join(',', map {
			my $v = $r->{$_};
			!defined $v ? '' : /^(metric|target|unit)$/ ? $v
				: $v =~ /^-?\d+$/ ? $v : sprintf('%.6g', $v)
		} @cols), "\n";
	}
}
close($csv);

# ---- JSON ---------------------------------------------------------------
my $json = JSON::PP->new->canonical->pretty;
open(my $js, '>', "$out/results.json") or die "$out/results.json: $!\n";
print $js $json->encode({
	meta => \%meta,
	versions => \%version,
	results => [map { my $m = $_; map { $res{$m}{$_} // () } @targets } @metrics],
	entries_seen => \%note,
	runs => \@raw,
});
close($js);

# ---- the table ----------------------------------------------------------
sub fmt {
	my ($v, $unit) = @_;
	return 'fail' unless defined $v;
	return sprintf('%.1f MiB', $v) if $unit eq 'MiB';
	return sprintf('%.4f s', $v) if $v < 0.1;
	return sprintf('%.3f s', $v) if $v < 10;
	return sprintf('%.2f s', $v);
}
sub fx { defined $_[0] ? sprintf('%.2f', $_[0]) : '-' }

print "layerfs benchmark: $meta{runs} run(s) per cell", ($meta{quick} ? ' (--quick)' : ''),
	", $meta{machine}, Linux $meta{kernel}, $meta{date}\n";
for my $v (@vers) { printf "  %-15s %s\n", $v->[0], $v->[1] }
print "figure: median wall time (MiB for mem_rss_*); +-% = half the min-max range over the median;\n",
	"x kern / x fovl = median / kernel's, / fuse-overlayfs's (above 1 = slower);\n",
	"cpu s = FUSE daemon utime+stime over the timed part (median); rss = daemon VmHWM (MiB, max over runs)\n";
print "sizes: $meta{sizes}\nopen files (RLIMIT_NOFILE): $meta{nofile}\n\n";
my $hdr = sprintf("%-15s %-15s %12s %6s %7s %7s %7s %7s\n", 'workload', 'target', 'median', '+-%',
		  'x kern', 'x fovl', 'cpu s', 'rss');
print $hdr, '-' x (length($hdr) - 1), "\n";
for my $m (@metrics) {
	my $first = 1;
	for my $t (@targets) {
		my $r = $res{$m}{$t} or next;
		printf "%-15s %-15s %12s %6s %7s %7s %7s %7s%s\n", $first ? $m : '', $t,
			fmt($r->{median}, $r->{unit}),
			defined $r->{spread_pct} ? sprintf('%.1f', $r->{spread_pct}) : '-',
			fx($r->{ratio_kernel}), fx($r->{ratio_fuse_overlayfs}),
			defined $r->{daemon_cpu_s} ? sprintf('%.2f', $r->{daemon_cpu_s}) : '-',
			defined $r->{daemon_peak_rss_mib} ? sprintf('%.0f', $r->{daemon_peak_rss_mib}) : '-',
			$r->{failures} ? "  ($r->{failures} failed)" : '';
		$first = 0;
	}
}

# Parallel scaling.
if (grep { $res{par_1}{$_} && $res{par_N}{$_} } @targets) {
	print "\nparallel: same work, 1 worker vs $meta{cores} (speed-up = par_1 / par_N)\n";
	for my $t (@targets) {
		my ($a, $b) = ($res{par_1}{$t}, $res{par_N}{$t});
		next unless $a && $b && defined $a->{median} && defined $b->{median};
		printf "  %-15s %10s %10s  x%.2f\n", $t, fmt($a->{median}, 's'), fmt($b->{median}, 's'),
			$a->{median} / $b->{median};
	}
}

# Daemon memory.
if (grep { $res{mem_rss_start}{$_} } @targets) {
	print "\ndaemon RSS (MiB): at start, after the mem walk (lstat of every entry, see sizes), after drop_caches + 1 s\n";
	for my $t (@targets) {
		my @v = map { $res{$_}{$t} } qw(mem_rss_start mem_rss_walked mem_rss_dropped);
		next unless $v[0];
		printf "  %-15s %8s %8s %8s\n", $t, map { defined $_->{median} ? sprintf('%.1f', $_->{median}) : '-' } @v;
	}
}

# What each target saw: it should match the plain directory.
for my $k (sort keys %note) {
	my $want = $note{$k}{plain} // $note{$k}{kernel};
	next unless defined $want;
	my @odd = grep { defined $note{$k}{$_} && $note{$k}{$_} ne $want } @targets;
	printf "\nnote: %s differs from %s on: %s\n", $k, $want,
		join(', ', map { "$_ ($note{$k}{$_})" } @odd) if @odd;
}

# Where layerfs is furthest behind.
if (grep { $_ eq 'layerfs' } @targets) {
	my @behind = sort { ($res{$b}{layerfs}{ratio_kernel} // 0) <=> ($res{$a}{layerfs}{ratio_kernel} // 0) }
		grep { $res{$_}{layerfs} && $res{$_}{layerfs}{unit} eq 's' && defined $res{$_}{layerfs}{ratio_kernel} } @metrics;
	if (@behind) {
		print "\nlayerfs, furthest behind the kernel first:\n";
		my $n = 0;
		for my $m (@behind) {
			last if $n++ >= 8;
			my $r = $res{$m}{layerfs};
			printf "  %-15s %10s  x%-7s kernel  x%-6s fuse-overlayfs\n", $m, fmt($r->{median}, 's'),
				fx($r->{ratio_kernel}), fx($r->{ratio_fuse_overlayfs});
		}
	}
}
printf "\nelapsed: %s s\n", $meta{elapsed_s} // '?';
