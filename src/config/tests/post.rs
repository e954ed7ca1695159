//! Post-processing of a parsed file, file paths, and robustness against garbage.

use super::*;

// ---------------------------------------------------------------------
// Post-processing

#[test]
fn renewal_freq_defaults_to_half_the_lease() {
    assert_eq!(
        ticket(&with_ticket("expire = 21\ntimeout = 1\nretries = 3\n")).renewal_freq,
        ms(10_500)
    );
    assert_eq!(
        ticket(&with_ticket(
            "expire = 3ms\ntimeout = 1ms\nretries = 3\nrenewal-freq = 4ms\n"
        ))
        .renewal_freq,
        ms(4)
    );
}

#[test]
fn renewal_check() {
    // Equality is accepted: 2000*(4+1) = 10000.
    let t = ticket(&with_ticket("expire = 20\ntimeout = 2\nretries = 4\n"));
    assert_eq!(t.renewal_freq, ms(10_000));
    // One more retry is too much; reported at the next ticket line...
    assert_err(
        &with_ticket("expire = 20\ntimeout = 2\nretries = 5\nticket = U\n"),
        8,
        "T: total amount of time to retry sending packets cannot exceed renewal \
         frequency (2000*(5+1) > 10000)",
    );
    // ...or at the last line for the last ticket.
    let e = err(&with_ticket(
        "expire = 20\ntimeout = 2\nretries = 5\n\n# end\n",
    ));
    assert_eq!(e.line, Some(9));
    assert_eq!(e.key, None);
    // An explicit renewal-freq is what counts.
    assert_err(
        &with_ticket("renewal-freq = 10\n"),
        5,
        "T: total amount of time to retry sending packets cannot exceed renewal \
         frequency (5000*(10+1) > 10000)",
    );
    // The default ticket settings pass.
    assert_eq!(ok(&with_ticket("")).tickets.len(), 1);
}

#[test]
fn renewal_not_shorter_than_expire_warns() {
    let cfg = ok(&with_ticket(
        "expire = 60\ntimeout = 1\nrenewal-freq = 60\n",
    ));
    assert!(has_warning(
        &cfg,
        "ticket \"T\" (config file line 4): renewal-freq (60000ms) is not shorter than \
         expire (60000ms)"
    ));
    assert!(!has_warning(
        &ok(&with_ticket("expire = 60\ntimeout = 1\n")),
        "renewal-freq"
    ));
}

#[test]
fn poll_timeout() {
    assert_eq!(ok("").poll_timeout(), ms(100));
    assert_eq!(ok(&with_ticket("")).poll_timeout(), ms(100));
    assert_eq!(
        ok(&with_ticket(
            "timeout = 500ms\nticket = U\ntimeout = 800ms\n"
        ))
        .poll_timeout(),
        ms(50)
    );
    assert_eq!(ok(&with_ticket("timeout = 5ms\n")).poll_timeout(), ms(100));
}

// ---------------------------------------------------------------------
// Files and paths

#[test]
fn config_path_from_arg_cases() {
    assert_eq!(
        config_path_from_arg("booth"),
        Path::new("/etc/booth/booth.conf")
    );
    assert_eq!(
        config_path_from_arg("other"),
        Path::new("/etc/booth/other.conf")
    );
    assert_eq!(
        config_path_from_arg("other.cfg"),
        Path::new("/etc/booth/other.cfg")
    );
    assert_eq!(
        config_path_from_arg("a.b.conf"),
        Path::new("/etc/booth/a.b.conf")
    );
    assert_eq!(config_path_from_arg("./x"), Path::new("./x"));
    assert_eq!(config_path_from_arg("/tmp/x"), Path::new("/tmp/x"));
    assert_eq!(config_path_from_arg("dir/x.conf"), Path::new("dir/x.conf"));
    assert_eq!(
        config_path_from_arg(DEFAULT_CONFIG),
        Path::new(DEFAULT_CONFIG)
    );
    assert_eq!(config_path_from_arg("booth"), Path::new(DEFAULT_CONFIG));
}

#[test]
fn load_from_files() {
    let dir = std::env::temp_dir();
    let missing = dir.join(format!("booth-config-missing-{}.conf", std::process::id()));
    let e = Config::load(&missing).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "failed to open {}: No such file or directory",
            missing.display()
        )
    );
    assert_eq!(e.line, None);

    let path = dir.join(format!(
        "booth-config-load-{}.site-a.conf",
        std::process::id()
    ));
    std::fs::write(&path, C_BOOTH_AUTH_CONF).unwrap();
    let cfg = Config::load(&path);
    let _ = std::fs::remove_file(&path);
    let cfg = cfg.unwrap();
    assert_eq!(
        cfg.name,
        format!("booth-config-load-{}.site-a", std::process::id())
    );
    assert_eq!(cfg.path, path);
    assert_eq!(cfg.members.len(), 3);

    // A directory cannot be read as a configuration.
    let e = Config::load(&dir).unwrap_err();
    assert!(e.message.starts_with("failed to read"), "{e}");
}

#[test]
fn config_without_authfile_has_no_key() {
    assert_eq!(ok("").read_authkey(), Ok(None));
    let e = ok("authfile = /nonexistent/booth-authkey\n")
        .read_authkey()
        .unwrap_err();
    assert_eq!(
        e.0,
        "cannot open /nonexistent/booth-authkey: No such file or directory"
    );
}

#[test]
fn system_resolver_handles_numeric_hosts() {
    // Numeric strings need no network: getaddrinfo converts them itself.
    assert_eq!(
        SystemResolver.resolve("127.0.0.1"),
        Ok("127.0.0.1".parse().unwrap())
    );
    assert_eq!(SystemResolver.resolve("::1"), Ok("::1".parse().unwrap()));
}

// ---------------------------------------------------------------------
// Robustness

/// xorshift64*: deterministic and good enough to make garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn garbage_never_panics() {
    const WORDS: &[&str] = &[
        "transport",
        "port",
        "name",
        "authfile",
        "maxtimeskew",
        "site",
        "arbitrator",
        "site-user",
        "debug",
        "ticket",
        "__defaults__",
        "expire",
        "timeout",
        "retries",
        "renewal-freq",
        "acquire-after",
        "before-acquire-handler",
        "attr-prereq",
        "mode",
        "weights",
        "=",
        "\"",
        "'",
        "#",
        " ",
        "\t",
        "\n",
        "\r",
        "\0",
        "0x",
        "-",
        "+",
        "ms",
        "9999999999999999999999",
        "0",
        "1",
        "08",
        "auto",
        "eq",
        "manual",
        "udp",
        "sctp",
        "10.0.0.1",
        "::1",
        "alpha",
        ",",
        ";",
        "\u{e9}",
        "/",
    ];
    let resolver = FakeResolver::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..4000 {
        let mut text = Vec::new();
        let pieces = rng.below(60);
        for _ in 0..pieces {
            if round % 3 == 0 {
                // Raw bytes, including invalid UTF-8.
                text.push(rng.next() as u8);
            } else {
                text.extend_from_slice(WORDS[rng.below(WORDS.len())].as_bytes());
                if rng.below(4) == 0 {
                    text.push(b'\n');
                }
            }
        }
        if round % 97 == 0 {
            text.extend(std::iter::repeat_n(b'x', rng.below(3000)));
        }
        let _ = Config::parse_bytes(&text, Path::new(PATH), &resolver);
        if let Ok(s) = std::str::from_utf8(&text) {
            let _ = Config::parse_str(s, Path::new("x"), &resolver);
        }
    }
}

#[test]
fn structured_garbage_never_panics() {
    // Valid keys with random values exercise the value parsers.
    const KEYS: &[&str] = &[
        "port",
        "maxtimeskew",
        "debug",
        "site",
        "expire",
        "timeout",
        "retries",
        "renewal-freq",
        "acquire-after",
        "weights",
        "attr-prereq",
        "before-acquire-handler",
        "mode",
        "name",
        "transport",
        "ticket",
    ];
    const VALUE_BYTES: &[u8] = b"0123456789xX+-,;: \tms#'\"abc/._";
    let resolver = FakeResolver::new();
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let mut text = String::from("ticket = T\n");
        for _ in 0..rng.below(6) {
            let key = KEYS[rng.below(KEYS.len())];
            let value: String = (0..rng.below(20))
                .map(|_| VALUE_BYTES[rng.below(VALUE_BYTES.len())] as char)
                .collect();
            text.push_str(&format!("{key} = {value}\n"));
        }
        let _ = Config::parse_str(&text, Path::new(PATH), &resolver);
    }
}
