# booth: build, test and install.
#
#   make            build the release binary
#   make check      the whole test suite (format, lints, unit and integration tests)
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

.PHONY: all build check fmt-check clippy test demo install uninstall clean

all: build

build:
	$(CARGO) build --release --locked

check: fmt-check clippy test

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

test:
	$(CARGO) test --locked --all-targets

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
