# booth: build, test and install.
#
#   make            build the release binary
#   make check      the whole test suite (format, lints, unit and integration tests)
#   make sim        the cluster simulator over SEEDS seeds (see README)
#   make demo       a local demo cluster (see README)
#   make install    install under $(DESTDIR)$(PREFIX)

PREFIX      ?= /usr
SYSCONFDIR  ?= /etc
DESTDIR     ?=
CARGO       ?= cargo
BIN         := target/release/boothd

SBINDIR     := $(DESTDIR)$(PREFIX)/sbin
MAN8DIR     := $(DESTDIR)$(PREFIX)/share/man/man8
DATADIR     := $(DESTDIR)$(PREFIX)/share/booth
CONFDIR     := $(DESTDIR)$(SYSCONFDIR)/booth

.PHONY: all build check fmt-check clippy test sim demo install uninstall clean

all: build

build:
	$(CARGO) build --release --locked

check: fmt-check clippy test

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) clippy --locked --all-targets --features mutations -- -D warnings

# Includes a bounded simulator run (test/sim.rs, 400 seeds) and the
# deliberately broken engines it must catch (feature "mutations").
test:
	$(CARGO) test --locked --all-targets
	$(CARGO) test --locked --features mutations --test sim_mutations

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
