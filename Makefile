# booth: build, test and install.
#
#   make            build the release binary
#   make check      the whole test suite (format, lints, unit and integration tests)
#   make sim        the cluster simulator over SEEDS seeds (see README)
#   make demo       a local demo cluster (see README)
#   make static     the static build (musl): one file for small hosts
#   make check-static  the daemon and client integration tests against it
#   make bench      our daemon next to the C booth (root; BENCH_QUICK=1,
#                   BENCH_SOAK=600; see test/bench/main.rs)
#   make bench-scale  both at 300 and 1000 tickets, ours at 10,000
#   make fuzz       run each fuzz target for FUZZ_SECONDS (needs cargo-fuzz)
#   make install    install the binary (with its booth and geostore names),
#                   man pages, example configuration, systemd units, init
#                   script, OCF agent, example handler and booth-keygen
#   make uninstall  remove all of it again

PREFIX      ?= /usr
SYSCONFDIR  ?= /etc
DESTDIR     ?=
CARGO       ?= cargo

# The static build: musl libc linked in, no shared library needed, for
# arbitrators on small or different hosts (doc/static-build.md).
# "make install STATIC=1" builds and installs it instead.
MUSL_TARGET ?= x86_64-unknown-linux-musl
STATIC_BIN  := target/$(MUSL_TARGET)/release/boothd
BIN         := $(if $(filter 1,$(STATIC)),$(STATIC_BIN),target/release/boothd)
ifeq ($(STATIC),1)
INSTALL_BUILD ?= static
endif

# Where the C booth packages put things: configuration and the init script
# under SYSCONFDIR, everything else (units and the OCF agent too) under
# PREFIX.

# Fuzzing (test/fuzz is a cargo-fuzz crate of its own). cargo-fuzz wants a
# nightly compiler for its -Z flags; RUSTC_BOOTSTRAP lets a stable one do.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := wire_datagram wire_request client_reply config_parse engine
FUZZ         := RUSTC_BOOTSTRAP=1 $(CARGO) fuzz

SBINDIR     := $(DESTDIR)$(PREFIX)/sbin
MAN8DIR     := $(DESTDIR)$(PREFIX)/share/man/man8
DATADIR     := $(DESTDIR)$(PREFIX)/share/booth
CONFDIR     := $(DESTDIR)$(SYSCONFDIR)/booth
INITDIR     := $(DESTDIR)$(SYSCONFDIR)/init.d
UNITDIR     := $(DESTDIR)$(PREFIX)/lib/systemd/system
OCFDIR      := $(DESTDIR)$(PREFIX)/lib/ocf/resource.d/pacemaker

# What install builds first; tests install an already built binary with
# "make install BIN=... INSTALL_BUILD=".
INSTALL_BUILD ?= build

# Scripts and units name the daemon by its installed path.
SUBST_SBIN  = sed 's|/usr/sbin/boothd|$(PREFIX)/sbin/boothd|g'

MANPAGES    := boothd.8 geostore.8 booth-keygen.8
UNITS       := booth@.service booth-arbitrator.service

.PHONY: all build static check check-static check-static-if-available fmt-check clippy test fuzz fuzz-replay sim bench bench-scale demo install uninstall clean

all: build

build:
	$(CARGO) build --release --locked

check: fmt-check clippy test fuzz-replay check-static-if-available

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets --features mutations -- -D warnings

# Includes the cluster simulator over 400 seeds (test/sim.rs) and the
# deliberately broken engines it must catch (test/sim_mutations.rs).
test:
	$(CARGO) test --locked --all-targets
	$(CARGO) test --locked --features mutations --test sim_mutations

static:
	$(CARGO) build --release --locked --target $(MUSL_TARGET)

# The integration tests that run the boothd program, again against the
# static build (test/common reads BOOTH_BIN when they are compiled), and
# clippy for the musl target. Not every crate: wire_captures,
# client_protocol, hostile_engine and the simulator use the library only;
# hostile (input at the protocol) and netns_cluster (namespaces,
# Pacemaker) test code that is the same in both builds. daemon_privs
# locks memory and drops privileges as in production, daemon_cluster and
# eco run real daemons under run-as users looked up by name, the others
# run the client and the other commands: where the C library shows.
# About a minute and a half on top of make check.
STATIC_TESTS ?= cli_binary config_check client_binary daemon_status daemon_privs daemon_cluster eco
check-static: static
	$(CARGO) clippy --locked --target $(MUSL_TARGET) -- -D warnings
	BOOTH_BIN='$(abspath $(STATIC_BIN))' $(CARGO) test --locked $(addprefix --test ,$(STATIC_TESTS))

# make check runs check-static where the musl target is installed
# (rustup target add x86_64-unknown-linux-musl; .ci/run adds it).
MUSL_INSTALLED = [ -d "$$(rustc --print target-libdir --target $(MUSL_TARGET) 2>/dev/null)" ]
check-static-if-available:
	@if $(MUSL_INSTALLED); then \
		$(MAKE) --no-print-directory check-static; \
	else echo "musl target $(MUSL_TARGET) not installed: check-static skipped"; fi

# The cluster simulator in an optimised build: SEEDS seeds from FIRST_SEED;
# SEED=n replays one seed with a trace (TRACE=ticket|all, TRACE_LINES=n|all,
# SHOW=violation-or-known-bug to trace up to that one);
# MUTATION=name runs a deliberately broken engine; STRICT=1 counts the known
# engine bugs as violations.
SEEDS       ?= 10000
FIRST_SEED  ?= 1
sim:
	SEEDS='$(SEEDS)' FIRST_SEED='$(FIRST_SEED)' SEED='$(SEED)' TRACE='$(TRACE)' \
	TRACE_LINES='$(TRACE_LINES)' SHOW='$(SHOW)' MUTATION='$(MUTATION)' STRICT='$(STRICT)' \
	$(CARGO) test --locked --profile sim $(if $(MUTATION),--features mutations) --test sim

# Benchmarks against the C booth 1.0 in network namespaces (root, the C
# booth and Pacemaker's crm_ticket needed). Not part of check. The output
# also goes to target/bench-results.txt (target/bench-scale-results.txt).
BENCH_SOAK  ?=
BENCH_ENV    = BENCH_QUICK='$(BENCH_QUICK)' BENCH_SOAK='$(BENCH_SOAK)' \
	BENCH_WINDOW='$(BENCH_WINDOW)' BENCH_TICKETS='$(BENCH_TICKETS)' BENCH_RUNS='$(BENCH_RUNS)' \
	BENCH_NO_REALTIME='$(BENCH_NO_REALTIME)' BENCH_GRANT_CAP='$(BENCH_GRANT_CAP)' BENCH_ONLY='$(BENCH_ONLY)'
bench bench-scale: SHELL := /bin/bash
# The static build runs next to the dynamic one where the musl target is
# installed (BENCH_STATIC; the bench leaves its column empty otherwise).
bench: build
	@if $(MUSL_INSTALLED); then $(MAKE) --no-print-directory static; fi
	set -o pipefail; BENCH_STATIC='$(abspath $(STATIC_BIN))' $(BENCH_ENV) \
		$(CARGO) test --locked --release --test bench 2>&1 \
		| tee target/bench-results.txt

bench-scale: build
	set -o pipefail; $(BENCH_ENV) BENCH_MODE=scale BENCH_SCALE='$(BENCH_SCALE)' \
		BENCH_SCALE_OURS='$(BENCH_SCALE_OURS)' BENCH_SETTLE='$(BENCH_SETTLE)' \
		$(CARGO) test --locked --release --test bench 2>&1 | tee target/bench-scale-results.txt

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

demo: $(if $(filter 1,$(STATIC)),static,build)
	@test/demo.sh $(BIN)

install: $(INSTALL_BUILD)
	install -d $(SBINDIR) $(MAN8DIR) $(DATADIR) $(CONFDIR) $(INITDIR) $(UNITDIR) $(OCFDIR)
	install -m 0755 $(BIN) $(SBINDIR)/boothd
	ln -sf boothd $(SBINDIR)/booth
	ln -sf boothd $(SBINDIR)/geostore
	install -m 0755 init/booth-keygen $(SBINDIR)/booth-keygen
	for m in $(MANPAGES); do install -m 0644 man/$$m $(MAN8DIR)/$$m || exit 1; done
	ln -sf boothd.8 $(MAN8DIR)/booth.8
	install -m 0644 conf/booth.conf.example $(CONFDIR)/booth.conf.example
	for u in $(UNITS); do $(SUBST_SBIN) conf/$$u > $(UNITDIR)/$$u && chmod 0644 $(UNITDIR)/$$u || exit 1; done
	$(SUBST_SBIN) init/booth-arbitrator > $(INITDIR)/booth-arbitrator
	chmod 0755 $(INITDIR)/booth-arbitrator
	install -m 0755 init/booth-site $(OCFDIR)/booth-site
	install -m 0755 init/service-runnable $(DATADIR)/service-runnable

# Removes what install created; shared directories stay unless empty.
uninstall:
	rm -f $(SBINDIR)/boothd $(SBINDIR)/booth $(SBINDIR)/geostore $(SBINDIR)/booth-keygen
	rm -f $(addprefix $(MAN8DIR)/,$(MANPAGES) booth.8)
	rm -f $(CONFDIR)/booth.conf.example
	rm -f $(addprefix $(UNITDIR)/,$(UNITS))
	rm -f $(INITDIR)/booth-arbitrator
	rm -f $(OCFDIR)/booth-site
	rm -f $(DATADIR)/service-runnable
	-rmdir $(CONFDIR) $(DATADIR) $(OCFDIR) 2>/dev/null

clean:
	$(CARGO) clean
