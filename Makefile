# booth: build, test and install.
#
#   make            build the release binary
#   make check      the whole test suite (format, lints, unit and integration tests)
#   make sim        the cluster simulator over SEEDS seeds (see README)
#   make model-check  exhaustive searches over the real engine (doc/model-check.md)
#   make demo       a local demo cluster (see README)
#   make upstream-suite UPSTREAM=dir  the C booth's own tests against ours
#   make static     the static build (musl): one file for small hosts
#   make check-static  the daemon and client integration tests against it
#   make bench      our daemon next to the C booth (root; BENCH_QUICK=1,
#                   BENCH_SOAK=600; see test/bench/main.rs)
#   make bench-scale  both at 300 and 1000 tickets, ours at 10,000
#   make fuzz       run each fuzz target for FUZZ_SECONDS (needs cargo-fuzz)
#   make install    install the binary (with its booth and geostore names),
#                   booth-keygen, man pages, example configuration, systemd
#                   units and generator, init script, OCF agents and
#                   geo_attr.sh, example handler, firewalld service,
#                   booth.pc and documentation (see doc/packaging.md)
#   make uninstall  remove all of it again

PREFIX      ?= /usr
SYSCONFDIR  ?= /etc
DESTDIR     ?=
CARGO       ?= cargo
# A toolchain that test/setup.sh installed with rustup for this user comes
# first (a distribution's older cargo may be in PATH too).
export PATH := $(HOME)/.cargo/bin:$(PATH)
# SETUP=0: make changes nothing on the machine (test/setup.sh only says
# what is missing).
export SETUP ?= 1

# The static build: musl libc linked in, no shared library needed, for
# arbitrators on small or different hosts (doc/static-build.md).
# "make install STATIC=1" builds and installs it instead.
MUSL_TARGET ?= x86_64-unknown-linux-musl
# Where cargo builds: CARGO_TARGET_DIR if the user sets one (a shared
# build cache), else ./target.
TARGET_DIR  := $(or $(CARGO_TARGET_DIR),target)
STATIC_BIN  := $(TARGET_DIR)/$(MUSL_TARGET)/release/boothd
BIN         := $(if $(filter 1,$(STATIC)),$(STATIC_BIN),$(TARGET_DIR)/release/boothd)
ifeq ($(STATIC),1)
INSTALL_BUILD ?= static
endif

# Where the C booth packages put things (doc/packaging.md lists every file
# with the distributions' paths): configuration and the init script under
# SYSCONFDIR, state under LOCALSTATEDIR, everything else under PREFIX.
# systemd's and resource-agents' own pkg-config files choose the unit,
# generator and OCF directories when they are installed (Debian bookworm:
# /lib/systemd/system); each variable can be set on the command line.
LOCALSTATEDIR ?= /var
SBINDIR     ?= $(PREFIX)/sbin
DATAROOTDIR ?= $(PREFIX)/share
MANDIR      ?= $(DATAROOTDIR)/man
DOCDIR      ?= $(DATAROOTDIR)/doc/booth
BOOTHDATADIR ?= $(DATAROOTDIR)/booth
PKGCONFIGDIR ?= $(DATAROOTDIR)/pkgconfig
BOOTHCONFDIR ?= $(SYSCONFDIR)/booth
INITDDIR    ?= $(SYSCONFDIR)/init.d
BOOTHLIBDIR ?= $(LOCALSTATEDIR)/lib/booth
BOOTHCOREDIR ?= $(BOOTHLIBDIR)/cores
FIREWALLDDIR ?= $(PREFIX)/lib/firewalld/services
pkgvar       = $(shell pkg-config --variable=$(1) $(2) 2>/dev/null)
UNITDIR     ?= $(or $(call pkgvar,systemdsystemunitdir,systemd),$(PREFIX)/lib/systemd/system)
GENERATORDIR ?= $(or $(call pkgvar,systemdsystemgeneratordir,systemd),$(PREFIX)/lib/systemd/system-generators)
OCFDIR      ?= $(or $(call pkgvar,ocfrootdir,resource-agents),$(PREFIX)/lib/ocf)
# The run-as user of sites owns BOOTHLIBDIR when it exists (as upstream).
CRM_DAEMON_USER  ?= hacluster
CRM_DAEMON_GROUP ?= haclient
# RCLINK=service adds SUSE's rcbooth-arbitrator (a link to
# /usr/sbin/service); RCLINK=initd a link to the init script instead.
RCLINK      ?=
VERSION     := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

# Fuzzing (test/fuzz is a cargo-fuzz crate of its own). cargo-fuzz wants a
# nightly compiler for its -Z flags; RUSTC_BOOTSTRAP lets a stable one do.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := wire_datagram wire_request client_reply config_parse engine
FUZZ         := RUSTC_BOOTSTRAP=1 $(CARGO) fuzz

# The same directories below DESTDIR, for the install rules.
D_SBIN      = $(DESTDIR)$(SBINDIR)
D_MAN8      = $(DESTDIR)$(MANDIR)/man8
D_DOC       = $(DESTDIR)$(DOCDIR)
D_DATA      = $(DESTDIR)$(BOOTHDATADIR)
D_PC        = $(DESTDIR)$(PKGCONFIGDIR)
D_CONF      = $(DESTDIR)$(BOOTHCONFDIR)
D_INITD     = $(DESTDIR)$(INITDDIR)
D_LIB       = $(DESTDIR)$(BOOTHLIBDIR)
D_CORE      = $(DESTDIR)$(BOOTHCOREDIR)
D_FW        = $(DESTDIR)$(FIREWALLDDIR)
D_UNIT      = $(DESTDIR)$(UNITDIR)
D_GEN       = $(DESTDIR)$(GENERATORDIR)
D_OCFPCMK   = $(DESTDIR)$(OCFDIR)/resource.d/pacemaker
D_OCFBOOTH  = $(DESTDIR)$(OCFDIR)/resource.d/booth
D_OCFLIB    = $(DESTDIR)$(OCFDIR)/lib/booth

# What install builds first; tests install an already built binary with
# "make install BIN=... INSTALL_BUILD=".
INSTALL_BUILD ?= build

# Scripts and units name the daemon by its installed path, the generator
# the template unit by its.
SUBST       = sed -e 's|/usr/sbin/boothd|$(SBINDIR)/boothd|g' \
	-e 's|/usr/lib/systemd/system/|$(UNITDIR)/|g'

MANPAGES    := boothd.8 geostore.8 booth-keygen.8
UNITS       := booth.service booth@.service booth-arbitrator.service
OCFBOOTH    := geostore sharedrsc
DOCS        := README.md doc/compatibility.md doc/packaging.md
DOCS        += doc/monitoring.md doc/booth-json.schema.json
ALERTS      := alert_file.sh alert_smtp.sh alert_prometheus.sh

.PHONY: all setup-toolchain setup-packages build static check check-static check-static-if-available fmt-check clippy test fuzz fuzz-replay sim model-check upstream-suite bench bench-scale demo install uninstall clean

all: build

# A fresh machine: Rust through rustup when there is none (or too old a
# one), and for make check the packages the tests use (root with apt-get)
# and the musl target; see test/setup.sh.
setup-toolchain:
	@test/setup.sh toolchain

setup-packages:
	@test/setup.sh packages

build: setup-toolchain
	$(CARGO) build --release --locked

check: setup-toolchain setup-packages fmt-check clippy test fuzz-replay check-static-if-available

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets --features mutations -- -D warnings

# Includes the cluster simulator over 400 seeds (test/sim.rs) and the
# deliberately broken engines it must catch (test/sim_mutations.rs), or,
# for the rules its seeds no longer reach, their unit tests must
# (engine::tests::rules_out_of_the_simulators_reach_fail_their_unit_tests).
test:
	$(CARGO) test --locked --all-targets
	$(CARGO) test --locked --features mutations --test sim_mutations
	$(CARGO) test --locked --features mutations --lib out_of_the_simulators_reach
	$(CARGO) test --locked --features mutations --test model_check

# Optimised for size (opt-level z instead of the release profile's s):
# the static build is the one for small hosts, where the daemon locks
# its whole text in memory; about 75 kB less, and its CPU is measured
# next to the dynamic build's by make bench. Its relocations packed
# (DT_RELR, which musl's start-up applies): 34 kB of relocation records
# become 0.5 kB, and that segment is locked too. A linker without the
# option (GNU ld before 2.38) warns and links as before. memlock.ld
# gathers the code only a panic runs (the backtrace printer) into a
# section the daemon does not lock (src/daemon/memlock.rs): about 130 kB.
# test/static-sorts.sh checks that the locked code has one copy of the
# standard sort (src/sort.rs).
STATIC_RUSTFLAGS ?= ["-C", "link-arg=-Wl,-z,pack-relative-relocs", \
	"-C", "link-arg=-Wl,-T,$(abspath src/daemon/memlock.ld)"]
static: setup-toolchain
	CARGO_PROFILE_RELEASE_OPT_LEVEL=z $(CARGO) build --release --locked --target $(MUSL_TARGET) \
		--config 'target.$(MUSL_TARGET).rustflags=$(STATIC_RUSTFLAGS)'
	sh test/static-cold.sh '$(STATIC_BIN)'
	sh test/static-sorts.sh '$(STATIC_BIN)'

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
# engine bugs as violations; FAULTS=classic leaves out the time faults
# (stale deliveries, clock steps, reboots, suspends); SUSPEND_CLOCK=monotonic
# times leases on a clock that stops during a suspend.
SEEDS       ?= 10000
FIRST_SEED  ?= 1
sim:
	SEEDS='$(SEEDS)' FIRST_SEED='$(FIRST_SEED)' SEED='$(SEED)' TRACE='$(TRACE)' \
	TRACE_LINES='$(TRACE_LINES)' SHOW='$(SHOW)' MUTATION='$(MUTATION)' STRICT='$(STRICT)' \
	FAULTS='$(FAULTS)' SUSPEND_CLOCK='$(SUSPEND_CLOCK)' \
	$(CARGO) test --locked --profile sim $(if $(MUTATION),--features mutations) --test sim

# The model checker (src/mc): exhaustive searches over 2 sites +
# arbitrator with the real engine, then the searches that must find the
# old engine's dual grants; prints the state counts (doc/model-check.md).
model-check:
	MC=full $(CARGO) test --locked --profile sim --features mutations --test model_check

# Benchmarks against the C booth 1.0 in network namespaces (root, the C
# booth and Pacemaker's crm_ticket needed). Not part of check. The output
# also goes to target/bench-results.txt (target/bench-scale-results.txt;
# in CARGO_TARGET_DIR if set).
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
		| tee $(TARGET_DIR)/bench-results.txt

bench-scale: build
	set -o pipefail; $(BENCH_ENV) BENCH_MODE=scale BENCH_SCALE='$(BENCH_SCALE)' \
		BENCH_SCALE_OURS='$(BENCH_SCALE_OURS)' BENCH_SETTLE='$(BENCH_SETTLE)' \
		$(CARGO) test --locked --release --test bench 2>&1 | tee $(TARGET_DIR)/bench-scale-results.txt

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

# The C booth's own Python test suite against our boothd (UPSTREAM: a
# ClusterLabs booth source tree; test/upstream-suite.sh).
upstream-suite: build
	test/upstream-suite.sh '$(UPSTREAM)' $(TARGET_DIR)/release/boothd

demo: $(if $(filter 1,$(STATIC)),static,build)
	@test/demo.sh $(BIN)

install: $(INSTALL_BUILD)
	install -d $(D_SBIN) $(D_MAN8) $(D_DOC)/examples $(D_DATA) $(D_PC) $(D_CONF) \
		$(D_INITD) $(D_FW) $(D_UNIT) $(D_GEN) $(D_OCFPCMK) $(D_OCFBOOTH) $(D_OCFLIB)
	install -d -m 0750 $(D_LIB) $(D_CORE)
	if [ "$$(id -u)" = 0 ]; then \
		chown $(CRM_DAEMON_USER):$(CRM_DAEMON_GROUP) $(D_LIB) $(D_CORE) 2>/dev/null || \
		echo "note: $(CRM_DAEMON_USER):$(CRM_DAEMON_GROUP) does not exist, $(BOOTHLIBDIR) stays root's"; \
	fi
	install -m 0755 $(BIN) $(D_SBIN)/boothd
	ln -sf boothd $(D_SBIN)/booth
	ln -sf boothd $(D_SBIN)/geostore
	install -m 0755 init/booth-keygen $(D_SBIN)/booth-keygen
	for m in $(MANPAGES); do \
		sed 's|@VERSION@|$(VERSION)|g' man/$$m > $(D_MAN8)/$$m && chmod 0644 $(D_MAN8)/$$m || exit 1; \
	done
	ln -sf boothd.8 $(D_MAN8)/booth.8
	install -m 0644 conf/booth.conf.example $(D_CONF)/booth.conf.example
	install -m 0644 conf/booth.conf.example $(D_DOC)/examples/booth.conf.example
	for d in $(DOCS); do install -m 0644 $$d $(D_DOC)/ || exit 1; done
	for u in $(UNITS); do $(SUBST) conf/$$u > $(D_UNIT)/$$u && chmod 0644 $(D_UNIT)/$$u || exit 1; done
	$(SUBST) conf/booth-generator > $(D_GEN)/booth-generator
	chmod 0755 $(D_GEN)/booth-generator
	$(SUBST) init/booth-arbitrator > $(D_INITD)/booth-arbitrator
	chmod 0755 $(D_INITD)/booth-arbitrator
	case '$(RCLINK)' in \
	service) ln -sf /usr/sbin/service $(D_SBIN)/rcbooth-arbitrator ;; \
	initd) ln -sf $(INITDDIR)/booth-arbitrator $(D_SBIN)/rcbooth-arbitrator ;; \
	'') ;; \
	*) echo "RCLINK must be service, initd or empty" >&2; exit 1 ;; \
	esac
	install -m 0644 conf/booth.xml $(D_FW)/booth.xml
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BOOTHCONFDIR@|$(BOOTHCONFDIR)|g' \
		-e 's|@VERSION@|$(VERSION)|g' conf/booth.pc.in > $(D_PC)/booth.pc
	chmod 0644 $(D_PC)/booth.pc
	install -m 0755 init/booth-site $(D_OCFPCMK)/booth-site
	for a in $(OCFBOOTH); do install -m 0755 init/ocf/$$a $(D_OCFBOOTH)/$$a || exit 1; done
	install -m 0644 init/ocf/geo_attr.sh $(D_OCFLIB)/geo_attr.sh
	install -m 0755 init/service-runnable $(D_DATA)/service-runnable
	install -d $(D_DATA)/alerts
	for a in $(ALERTS); do install -m 0755 init/alerts/$$a $(D_DATA)/alerts/$$a || exit 1; done

# Removes what install created; shared directories stay unless empty
# (BOOTHLIBDIR keeps anything a daemon wrote there).
uninstall:
	rm -f $(D_SBIN)/boothd $(D_SBIN)/booth $(D_SBIN)/geostore $(D_SBIN)/booth-keygen
	rm -f $(D_SBIN)/rcbooth-arbitrator
	rm -f $(addprefix $(D_MAN8)/,$(MANPAGES) booth.8)
	rm -f $(D_CONF)/booth.conf.example
	rm -f $(D_DOC)/examples/booth.conf.example $(addprefix $(D_DOC)/,$(notdir $(DOCS)))
	rm -f $(addprefix $(D_UNIT)/,$(UNITS)) $(D_GEN)/booth-generator
	rm -f $(D_INITD)/booth-arbitrator
	rm -f $(D_FW)/booth.xml $(D_PC)/booth.pc
	rm -f $(D_OCFPCMK)/booth-site $(addprefix $(D_OCFBOOTH)/,$(OCFBOOTH)) $(D_OCFLIB)/geo_attr.sh
	rm -f $(D_DATA)/service-runnable $(addprefix $(D_DATA)/alerts/,$(ALERTS))
	-rmdir $(D_DATA)/alerts 2>/dev/null
	-rmdir $(D_CONF) $(D_DATA) $(D_DOC)/examples $(D_DOC) $(D_OCFBOOTH) $(D_OCFLIB) \
		$(D_CORE) $(D_LIB) 2>/dev/null

clean:
	$(CARGO) clean
