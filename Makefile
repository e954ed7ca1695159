# booth: build, test and install.
#
#   make            build the release binary
#   make check      the whole test suite (format, lints, unit and integration tests)
#   make demo       a local demo cluster (see README)
#   make fuzz       run each fuzz target for FUZZ_SECONDS (needs cargo-fuzz)
#   make install    install under $(DESTDIR)$(PREFIX)

PREFIX      ?= /usr
SYSCONFDIR  ?= /etc
DESTDIR     ?=
CARGO       ?= cargo
BIN         := target/release/boothd

# Fuzzing (test/fuzz is a cargo-fuzz crate of its own). cargo-fuzz wants a
# nightly compiler for its -Z flags; RUSTC_BOOTSTRAP lets a stable one do.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := wire_datagram wire_request client_reply config_parse engine
FUZZ         := RUSTC_BOOTSTRAP=1 $(CARGO) fuzz

SBINDIR     := $(DESTDIR)$(PREFIX)/sbin
MAN8DIR     := $(DESTDIR)$(PREFIX)/share/man/man8
DATADIR     := $(DESTDIR)$(PREFIX)/share/booth
CONFDIR     := $(DESTDIR)$(SYSCONFDIR)/booth

.PHONY: all build check fmt-check clippy test fuzz fuzz-replay demo install uninstall clean

all: build

build:
	$(CARGO) build --release --locked

check: fmt-check clippy test fuzz-replay

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

test:
	$(CARGO) test --locked --all-targets

# Each target runs FUZZ_SECONDS; new inputs go to test/fuzz/corpus-run/
# (not committed), the committed seeds in test/fuzz/corpus/ are read too.
fuzz:
	$(FUZZ) build --fuzz-dir test/fuzz -O
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p test/fuzz/corpus-run/$$t; \
		echo "== $$t ($(FUZZ_SECONDS) s)"; \
		$(FUZZ) run --fuzz-dir test/fuzz -O $$t test/fuzz/corpus-run/$$t test/fuzz/corpus/$$t \
			-- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

# Replays the committed corpus through every target once (no fuzzing);
# skipped when cargo-fuzz is not installed.
fuzz-replay:
	@if $(CARGO) fuzz --version >/dev/null 2>&1; then \
		for t in $(FUZZ_TARGETS); do \
			$(FUZZ) run --fuzz-dir test/fuzz -O $$t test/fuzz/corpus/$$t -- -runs=0 || exit 1; \
		done; \
	else echo "cargo-fuzz not installed: corpus replay skipped"; fi

demo: build
	@test/demo.sh $(BIN)

install: build
	install -d $(SBINDIR) $(DATADIR) $(CONFDIR)
	install -m 0755 $(BIN) $(SBINDIR)/boothd
	ln -sf boothd $(SBINDIR)/booth
	ln -sf boothd $(SBINDIR)/geostore
	install -m 0644 conf/booth.conf.example $(CONFDIR)/booth.conf.example

uninstall:
	rm -f $(SBINDIR)/boothd $(SBINDIR)/booth $(SBINDIR)/geostore
	rm -f $(CONFDIR)/booth.conf.example
	-rmdir $(CONFDIR) $(DATADIR) 2>/dev/null

clean:
	$(CARGO) clean
