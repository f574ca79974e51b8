#!/usr/bin/perl
# Build the benchmark's deterministic layers under DATA (see README).
#
#   gen-layers.pl DATA
#
# Writes DATA/layers/{l0,l1,l2} (l0 bottom, l2 top), DATA/upper.tmpl
# (copied fresh for every mount) and DATA/src.tar.  Whiteouts are char
# devices 0/0, opaque directories carry trusted.overlay.opaque=y: the
# kernel's format, read by the kernel, fuse-overlayfs and layerfs.
# Everything comes from one seeded PRNG, so two runs build the same
# bytes.  bench.sh then flattens the layers into DATA/plain and writes
# the file lists.
use strict;
use warnings;
use File::Path qw(make_path);
use POSIX qw(floor);

my $data = shift or die "usage: gen-layers.pl DATA\n";
my $EPOCH = 1700000000;

# A self-contained PRNG (xorshift32), so the layers do not depend on
# perl's rand().  All arithmetic stays below 2**64 on unsigned values.
my $s = 2463534242;
sub next32 {
	$s ^= ($s << 13) & 0xFFFFFFFF;
	$s ^= $s >> 17;
	$s ^= ($s << 5) & 0xFFFFFFFF;
	return $s;
}
sub rnd { next32() / 4294967296 }    # uniform in [0, 1)
sub irand { floor(rnd() * $_[0]) }
sub pick { $_[irand(scalar @_)] }

# Text to cut file contents from: words on lines, so grep has work.
my @words = qw(alpha beta gamma delta lib usr share config error warning
	int char void struct return static const define include module
	package version license copyright GNU Linux kernel overlay layer
	path name file dir mount upper lower whiteout opaque data value);
my $text = '';
while (length $text < (1 << 20)) {
	my $n = 4 + irand(10);
	$text .= join(' ', map { pick(@words) . (irand(4) ? '' : irand(1000)) } 1 .. $n) . "\n";
}
my $TL = length $text;

sub content {
	my ($size, $tag) = @_;
	my $c = "# $tag\n";
	while (length $c < $size) {
		my $off = irand($TL - 4096);
		$c .= substr($text, $off, 4096);
	}
	return substr($c, 0, $size);
}

sub small_size {    # log-uniform 16 B .. 32 KiB, a few up to 512 KiB
	return floor(exp(log(16) + rnd() * (log(512 << 10) - log(16))))
		if irand(200) == 0;
	return floor(exp(log(16) + rnd() * (log(32 << 10) - log(16))));
}

sub wfile {
	my ($path, $c, $mode) = @_;
	open(my $fh, '>', $path) or die "$path: $!\n";
	print $fh $c;
	close($fh) or die "$path: $!\n";
	chmod($mode // 0644, $path);
	utime($EPOCH, $EPOCH, $path);
}

my $x86_64 = (POSIX::uname())[4] eq 'x86_64';
sub whiteout {
	my ($path) = @_;
	# mknod(path, S_IFCHR|0, makedev(0,0)); syscall 133 on x86_64
	if ($x86_64) {
		syscall(133, $path, 0020000, 0) == 0 or die "mknod $path: $!\n";
	} else {
		system('mknod', $path, 'c', '0', '0') == 0 or die "mknod $path\n";
	}
}

sub opaque {
	my ($dir) = @_;
	system('setfattr', '-n', 'trusted.overlay.opaque', '-v', 'y', $dir) == 0
		or die "setfattr $dir\n";
}

sub mkdirs { make_path($_[0], { mode => 0755 }) unless -d $_[0] }

my $L = "$data/layers";
mkdirs("$L/$_") for qw(l0 l1 l2);
mkdirs("$data/upper.tmpl");
my @layers = ("$L/l0", "$L/l1", "$L/l2", "$data/upper.tmpl");

# ---- the rootfs-like tree ---------------------------------------------
# [top dir, number of subdirs, files, nesting depth, mode]
my @shape = (
	['tree/etc',                        40,   600, 1, 0644],
	['tree/bin',                         0,   200, 0, 0755],
	['tree/sbin',                        0,   150, 0, 0755],
	['tree/lib/modules',               100,  4000, 3, 0644],
	['tree/usr/bin',                     0,  1500, 0, 0755],
	['tree/usr/lib/x86_64-linux-gnu',  600, 15000, 2, 0644],
	['tree/usr/lib/python3',           800,  9000, 3, 0644],
	['tree/usr/include',               150,  3500, 2, 0644],
	['tree/usr/share/doc',            1200,  4000, 1, 0644],
	['tree/usr/share/man',              10,  3000, 1, 0644],
	['tree/usr/share/locale',          100,  2000, 2, 0644],
	['tree/usr/share/misc',             50,  1000, 2, 0644],
	['tree/var/lib/dpkg/info',           0,  2000, 0, 0644],
);

my %vis;     # visible path => [layer, 'f'|'d'|'l']
my @dirs;    # every directory created in l0 (for placing files)
my %mode_of;

sub dir_of { my $p = shift; $p =~ s{/[^/]*$}{}; $p }

sub make_dir_in {
	my ($li, $d) = @_;
	mkdirs("$layers[$li]/$d");
}

my $fileno = 0;
for my $sh (@shape) {
	my ($top, $nsub, $nfiles, $depth, $mode) = @$sh;
	my @here = ($top);
	for my $i (1 .. $nsub) {
		my $parent = $depth > 1 && @here > 1 && irand(3) ? pick(@here) : $top;
		my $pd = () = $parent =~ m{/}g;
		my $td = () = $top =~ m{/}g;
		$parent = $top if $pd - $td >= $depth;
		push @here, sprintf('%s/%s%d', $parent, pick(@words), $i);
	}
	for my $d (@here) {
		make_dir_in(0, $d);
		$vis{$d} = [0, 'd'];
	}
	push @dirs, @here;
	for my $i (1 .. $nfiles) {
		my $d = pick(@here);
		my $name = sprintf('%s/%s-%d%s', $d, pick(@words), $fileno++,
				   pick('', '.so', '.h', '.txt', '.conf', '.py', '.gz'));
		if (irand(50) == 0 && $i > 1) {    # some symlinks
			symlink(pick('../lib/libc.so.6', 'target', '/usr/bin/env'),
				"$layers[0]/$name") or die "$name: $!";
			$vis{$name} = [0, 'l'];
			next;
		}
		wfile("$layers[0]/$name", content(small_size(), $name), $mode);
		$vis{$name} = [0, 'f'];
		$mode_of{$name} = $mode;
	}
}

sub visible_files { grep { $vis{$_}[1] ne 'd' } sort keys %vis }

# Higher layers: overrides, new files, whiteouts of files and of whole
# directories, opaque directories.
sub layer_changes {
	my ($li, $nover, $nnew, $nwh, $nwhdir, $nopq) = @_;
	my @files = grep { $vis{$_}[1] eq 'f' } visible_files();
	my %done;
	for (1 .. $nover) {
		my $p = pick(@files);
		next if $done{$p}++;
		make_dir_in($li, dir_of($p));
		wfile("$layers[$li]/$p", content(small_size(), "$p\@$li"), $mode_of{$p});
		$vis{$p} = [$li, 'f'];
	}
	for my $i (1 .. $nnew) {
		my $d = pick(grep { $vis{$_} && $vis{$_}[1] eq 'd' } @dirs);
		my $p = sprintf('%s/new%d-%d.txt', $d, $li, $i);
		make_dir_in($li, $d);
		wfile("$layers[$li]/$p", content(small_size(), $p), 0644);
		$vis{$p} = [$li, 'f'];
		$mode_of{$p} = 0644;
	}
	for (1 .. $nwh) {
		my $p = pick(@files);
		next if $done{$p}++ || !$vis{$p};
		make_dir_in($li, dir_of($p));
		unlink("$layers[$li]/$p");
		whiteout("$layers[$li]/$p");
		delete $vis{$p};
	}
	# whole directories: leaves of usr/share/doc
	my @leaf = grep { m{^tree/usr/share/doc/[^/]+$} && $vis{$_} } @dirs;
	for (1 .. $nwhdir) {
		my $d = pick(@leaf);
		next if $done{$d}++ || !$vis{$d};
		make_dir_in($li, dir_of($d));
		system('rm', '-rf', "$layers[$li]/$d") if -e "$layers[$li]/$d";
		whiteout("$layers[$li]/$d");
		delete $vis{$_} for grep { $_ eq $d || index($_, "$d/") == 0 } keys %vis;
	}
	my @cand = grep { m{^tree/usr/(lib/python3|share/locale)/[^/]+$} && $vis{$_} } @dirs;
	for my $i (1 .. $nopq) {
		my $d = pick(@cand);
		next if $done{$d}++ || !$vis{$d};
		delete $vis{$_} for grep { index($_, "$d/") == 0 } keys %vis;
		system('rm', '-rf', "$layers[$li]/$d") if -e "$layers[$li]/$d";
		make_dir_in($li, $d);
		opaque("$layers[$li]/$d");
		$vis{$d} = [$li, 'd'];
		for my $j (1 .. 50) {
			my $p = sprintf('%s/opq%d-%d.py', $d, $li, $j);
			wfile("$layers[$li]/$p", content(small_size(), $p), 0644);
			$vis{$p} = [$li, 'f'];
			$mode_of{$p} = 0644;
		}
	}
}

layer_changes(1, 3000, 3000, 1500, 3, 2);
layer_changes(2, 2000, 3000, 1000, 2, 1);
layer_changes(3, 200, 200, 100, 0, 0);    # the upper template

# ---- 100k entries merged across the three lowers ----------------------
mkdirs("$layers[$_]/bigdir") for 0 .. 2;
sub bigent {
	my ($li, $i) = @_;
	wfile(sprintf('%s/bigdir/e%06d', $layers[$li], $i),
	      $i % 10 ? '' : "entry $i layer $li\n");
}
bigent(0, $_) for 0 .. 49999;
bigent(1, $_) for 50000 .. 79999, 0 .. 4999;
bigent(2, $_) for 80000 .. 101999, 10000 .. 14999;
whiteout(sprintf('%s/bigdir/e%06d', $layers[2], $_)) for 20000 .. 21999;

# ---- 10k lower files to unlink, in two layers -------------------------
mkdirs("$layers[$_]/rmfiles") for 0 .. 1;
wfile(sprintf('%s/rmfiles/r%05d', $layers[0], $_), "r$_\n") for 0 .. 5999;
wfile(sprintf('%s/rmfiles/r%05d', $layers[1], $_), "r$_\n") for 6000 .. 9999;

# ---- the big files: 1 GiB and 256 MiB, not compressible -----------------
mkdirs("$layers[0]/big");
for my $f (['file1g', 1024], ['file256m', 256]) {
	my ($name, $mib) = @$f;
	my $block = '';
	$block .= pack('L', next32()) while length $block < (1 << 20);
	open(my $fh, '>', "$layers[0]/big/$name") or die;
	for my $i (0 .. $mib - 1) {
		substr($block, 0, 16) = sprintf("%-15d\n", $i);
		substr($block, $i % 1000 * 1000 + 16, 8) = pack('Q', $i * 2654435761);
		print $fh $block;
	}
	close($fh) or die;
	utime($EPOCH, $EPOCH, "$layers[0]/big/$name");
}

# Directory times last, after their contents.
for my $li (0 .. 3) {
	system("find '$layers[$li]' -type d -exec touch -h -d \@$EPOCH {} +") == 0
		or die "touch\n";
}

# ---- a tarball to unpack: usr/include and usr/share/doc of l0 -----------
system('tar', '-C', "$layers[0]/tree", '--sort=name', "--mtime=\@$EPOCH",
       '--owner=0', '--group=0', '--numeric-owner', '--format=gnu',
       '-cf', "$data/src.tar", 'usr/include', 'usr/share/doc') == 0
	or die "tar\n";
print "gen-layers: done\n";
