# layerfs: one non-recursive Makefile for the whole tree.
#
#   make            build ./layerfs (installs missing Debian packages as root)
#   make check      build, then run the whole suite with prove
#   make asan       build with AddressSanitizer+UBSan into build-asan/ and test it
#   make demo       run the walkthrough on built-in sample layers
#   make bench      compare with the kernel's overlayfs and the FUSE peers
#   make install    honours PREFIX and DESTDIR
#   make lint       mandoc -Tlint on the man pages, shellcheck on the tests

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
CFLAGS  ?= -O2 -g
BUILD   ?= build
PROVE_JOBS ?= 2

PKGS := fuse3 libxxhash jansson libarchive libcrypto
WARN := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
	-Wvla -Wwrite-strings -Wformat-security -Wpointer-arith \
	-Wold-style-definition -Wno-missing-field-initializers
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) $(SANITIZE) \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null) -Ilib -Ifs -Itools \
	-MMD -MP $(CFLAGS)
LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

# Debian packages the build and the tests need.
DEB_BUILD := gcc make pkg-config libfuse3-dev libxxhash-dev uthash-dev \
	libjansson-dev libarchive-dev libssl-dev
DEB_TEST  := fuse3 attr acl perl mandoc umoci skopeo
DEB_ALL   := $(DEB_BUILD) $(DEB_TEST)

LIB_SRC   := $(wildcard lib/*.c)
FS_SRC    := $(wildcard fs/*.c)
TOOLS_SRC := $(wildcard tools/*.c)
SRC       := $(LIB_SRC) $(FS_SRC) $(TOOLS_SRC)
OBJ       := $(SRC:%.c=$(BUILD)/%.o)

HELPER_SRC := $(wildcard test/helper/*.c)
HELPERS    := $(HELPER_SRC:test/helper/%.c=$(BUILD)/test/helper/%)

MAN1 := $(wildcard man/*.1)
MAN5 := $(wildcard man/*.5)

TESTS := $(sort $(wildcard test/t[0-9]*.sh))

.PHONY: all deps check asan demo bench install uninstall lint clean helpers

all: deps layerfs

# Installs what is missing when run as root; otherwise says what to run.
deps:
	@missing=; for p in $(DEB_ALL); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "deps: installing$$missing"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || exit 1; \
		else \
			echo "deps: missing packages; run: sudo apt-get install -y$$missing" >&2; exit 1; \
		fi; \
	fi

layerfs: $(BUILD)/layerfs
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/layerfs: $(OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $(OBJ) $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

helpers: $(HELPERS)

$(BUILD)/test/helper/%: test/helper/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBS)

check: all helpers
	LFS_TEST_HELPER_DIR=$(abspath $(BUILD)/test/helper) \
		prove -j$(PROVE_JOBS) $(TESTS)

# Sanitized objects live in their own build dir so they never mix with
# the plain ones; the suite then runs against the sanitized binary.
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
asan: deps
	$(MAKE) BUILD=build-asan SANITIZE='$(ASAN_FLAGS)' build-asan/layerfs helpers
	@# daemons run with stderr closed: reports go to files, checked after
	rm -f build-asan/asan.*
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$(abspath build-asan)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$(abspath build-asan)/asan \
	LFS_TEST_HELPER_DIR=$(abspath build-asan/test/helper) \
	LFS_TEST_LAYERFS=$(abspath build-asan/layerfs) \
		prove -j$(PROVE_JOBS) $(TESTS)
	@if ls build-asan/asan.* >/dev/null 2>&1; then \
		echo "asan: sanitizer reports:"; cat build-asan/asan.*; exit 1; \
	fi

demo: all
	./tools/demo.sh

# Against the kernel's overlayfs and the FUSE peers (test/bench/README);
# BENCH_ARGS=--quick for a run under three minutes.
bench: all
	./test/bench/bench.sh $(BENCH_ARGS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 layerfs $(DESTDIR)$(BINDIR)/layerfs
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	@# mount -t fuse.layerfs goes through mount.fuse3, which runs
	@# "layerfs SOURCE MOUNTPOINT -o OPTS" from PATH: BINDIR must be on it.

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/layerfs
	rm -f $(MAN1:man/%=$(DESTDIR)$(MANDIR)/man1/%) $(MAN5:man/%=$(DESTDIR)$(MANDIR)/man5/%)

lint:
	mandoc -Tlint -Wwarning $(MAN1) $(MAN5)
	command -v shellcheck >/dev/null && shellcheck -x test/*.sh || true

clean:
	rm -rf build build-asan layerfs

-include $(OBJ:.o=.d)
