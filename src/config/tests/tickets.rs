//! Tickets, `__defaults__` and time values.

use super::*;

// ---------------------------------------------------------------------
// Tickets and __defaults__

#[test]
fn ticket_built_in_defaults() {
    let t = ticket(&format!("{MEMBERS}ticket = T\n"));
    assert_eq!(&*t.name, "T");
    assert_eq!(t.expire, ms(600_000));
    assert_eq!(t.timeout, ms(5_000));
    assert_eq!(t.retries, 10);
    assert_eq!(t.renewal_freq, ms(300_000));
    assert_eq!(t.acquire_after, ms(0));
    assert_eq!(t.before_acquire_handler, None);
    assert!(t.attr_prereqs.is_empty());
    assert_eq!(t.mode, TicketMode::Auto);
    assert!(!t.is_manual());
    assert_eq!(t.weights, [0; MAX_MEMBERS]);
}

/// Tickets with the same settings share one copy of them (at 10,000
/// tickets, 144 bytes a ticket); a ticket with other settings has its own.
#[test]
fn tickets_with_equal_settings_share_them() {
    let cfg = ok("ticket = a\nticket = b\n  expire = 300\nticket = c\n");
    let t = &cfg.tickets;
    assert!(std::sync::Arc::ptr_eq(&t[0].settings, &t[2].settings));
    assert!(!std::sync::Arc::ptr_eq(&t[0].settings, &t[1].settings));
    assert_eq!(t[1].expire, ms(300_000));
    assert_eq!(t[2].expire, ms(600_000));
}

#[test]
fn ticket_names() {
    let cfg = ok("ticket = a-b/C9\nticket = 'x'\n");
    assert_eq!(&*cfg.tickets[0].name, "a-b/C9");
    assert_eq!(&*cfg.tickets[1].name, "x");
    let n63 = "t".repeat(63);
    assert_eq!(
        ok(&format!("ticket = {n63}\n")).tickets[0].name.to_string(),
        n63
    );
    let n64 = "t".repeat(64);
    assert_err(
        &format!("ticket = {n64}\n"),
        1,
        &format!("ticket name \"{n64}\" too long."),
    );
    assert_err(
        "ticket = A\nticket = B\nticket = A\n",
        3,
        "ticket name \"A\" used again.",
    );
    for bad in ["a_b", "a.b", "a b", "__DEFAULTS__", "t:1"] {
        assert_err(
            &format!("ticket = \"{bad}\"\n"),
            1,
            &format!("ticket name \"{bad}\" invalid; only alphanumeric names."),
        );
    }
    assert_err(
        "ticket = \"\"\n",
        1,
        "ticket name \"\" invalid; a ticket needs a name.",
    );
}

#[test]
fn defaults_are_inherited_selectively() {
    let cfg = ok("ticket = __defaults__
expire = 100
timeout = 3
retries = 4
weights = 1 2 3
mode = manual
acquire-after = 7
renewal-freq = 40
before-acquire-handler = /bin/true
attr-prereq = auto a eq b
ticket = A
");
    let t = &cfg.tickets[0];
    assert_eq!(t.expire, ms(100_000));
    assert_eq!(t.timeout, ms(3_000));
    assert_eq!(t.retries, 4);
    assert_eq!(&t.weights[..4], [1, 2, 3, 0]);
    assert_eq!(t.mode, TicketMode::Manual);
    // Not inherited:
    assert_eq!(t.acquire_after, ms(0));
    assert_eq!(t.renewal_freq, ms(50_000));
    assert_eq!(t.before_acquire_handler, None);
    assert!(t.attr_prereqs.is_empty());
    for key in [
        "acquire-after",
        "renewal-freq",
        "before-acquire-handler",
        "attr-prereq",
    ] {
        assert!(
            has_warning(&cfg, &format!("\"{key}\" under __defaults__ has no effect")),
            "{key}: {:?}",
            cfg.warnings
        );
    }
}

#[test]
fn defaults_only_affect_later_tickets() {
    let cfg = ok("ticket = A
ticket = __defaults__
timeout = 2
ticket = B
timeout = 1
ticket = __defaults__
retries = 5
ticket = C
");
    let v: Vec<(Duration, u32)> = cfg.tickets.iter().map(|t| (t.timeout, t.retries)).collect();
    // B's own timeout does not change the defaults that C gets.
    assert_eq!(v, [(ms(5_000), 10), (ms(1_000), 10), (ms(2_000), 5)]);
}

#[test]
fn defaults_section_is_checked_like_a_ticket() {
    // The C booth post-processes the defaults section too, when the next
    // section starts and at the end of the file.
    assert_err(
        "ticket = __defaults__\nexpire = 20\ntimeout = 5\nticket = A\ntimeout = 1\n",
        4,
        "__defaults__: total amount of time to retry sending packets cannot exceed \
         renewal frequency (5000*(10+1) > 10000)",
    );
    assert_err(
        "ticket = A\nticket = __defaults__\nexpire = 20\n\n",
        4,
        "__defaults__: total amount of time to retry sending packets cannot exceed \
         renewal frequency (5000*(10+1) > 10000)",
    );
}

#[test]
fn time_values() {
    let t = ticket(&with_ticket(
        "expire = 60\ntimeout = 1500ms\nretries = 3\nacquire-after = 0\n",
    ));
    assert_eq!(t.expire, ms(60_000));
    assert_eq!(t.timeout, ms(1_500));
    assert_eq!(t.acquire_after, ms(0));
    assert_eq!(
        ticket(&with_ticket("acquire-after = 0ms\n")).acquire_after,
        ms(0)
    );
    assert_eq!(
        ticket(&with_ticket("expire = +60\ntimeout = 1\n")).expire,
        ms(60_000)
    );
    let t = ticket(&with_ticket(
        "expire = 2000ms\ntimeout = 100ms\nretries = 3\n",
    ));
    assert_eq!(t.expire, ms(2_000));

    for (key, rule) in [
        ("expire", ">0"),
        ("timeout", ">0"),
        ("renewal-freq", ">0"),
        ("acquire-after", ">=0"),
    ] {
        let mut bad = vec!["-1", "abc", "10s", "1.5", "10 ms", "ms", "\"\""];
        if rule == ">0" {
            bad.extend(["0", "0ms"]);
        }
        for v in bad {
            assert_err(
                &with_ticket(&format!("{key} = {v}\n")),
                5,
                &format!("Expected time {rule} for {key}"),
            );
        }
    }
}

#[test]
fn time_values_beyond_a_c_int_are_rejected() {
    let t = ticket(&with_ticket(
        "expire = 2147483\nrenewal-freq = 2147483647ms\n",
    ));
    assert_eq!(t.expire, ms(2_147_483_000));
    assert_eq!(t.renewal_freq, ms(2_147_483_647));
    for v in ["2147484", "2147483648ms", "99999999999999999999"] {
        assert_err(
            &with_ticket(&format!("expire = {v}\n")),
            5,
            &format!(
                "time value \"{v}\" for expire is too large (at most 2147483647ms, about 24.8 days)"
            ),
        );
    }
}

#[test]
fn subsecond_times() {
    assert!(!ok(&with_ticket("expire = 60\ntimeout = 1000ms\n")).subsecond_times);
    assert!(ok(&with_ticket("timeout = 500ms\n")).subsecond_times);
    // Any time value counts, even one that no ticket uses.
    assert!(ok("ticket = __defaults__\nacquire-after = 1ms\n").subsecond_times);
}

#[test]
fn subsecond_times_with_long_leases_warn() {
    let cfg = ok(&with_ticket("expire = 3600\ntimeout = 500ms\n"));
    assert!(has_warning(&cfg, "overflow leases longer than 2147483ms"));
    let cfg = ok(&with_ticket("expire = 2147\ntimeout = 500ms\n"));
    assert!(!has_warning(&cfg, "overflow"));
}

#[test]
fn retries_use_strtol_base_0() {
    let r = |v: &str| ticket(&with_ticket(&format!("timeout = 1\nretries = {v}\n"))).retries;
    assert_eq!(r("3"), 3);
    assert_eq!(r("100"), 100);
    assert_eq!(r("0x10"), 16);
    assert_eq!(r("010"), 8);
    assert_eq!(r("+5"), 5);
    assert_eq!(r("\" 5\""), 5);
    let msg = "Expected plain integer value in the range [3, 100] for retries";
    for bad in [
        "2",
        "101",
        "-5",
        "5x",
        "08",
        "0x",
        "abc",
        "\"\"",
        "\"5 \"",
        "4294967299",
    ] {
        assert_err(
            &with_ticket(&format!("expire = 600\nretries = {bad}\n")),
            6,
            msg,
        );
    }
}

#[test]
fn weights() {
    let w = |v: &str| {
        ticket(&with_ticket(&format!("weights = {v}\n")))
            .weights
            .clone()
    };
    assert_eq!(&w("1,2;3:4 5+6\t7-8")[..9], [1, 2, 3, 4, 5, 6, 7, 8, 0]);
    assert_eq!(&w("-5 1")[..3], [-5, 1, 0]);
    assert_eq!(&w("1 -2")[..3], [1, 2, 0]);
    assert_eq!(&w("0x10 010")[..3], [16, 8, 0]);
    assert_eq!(&w("08")[..3], [0, 8, 0]);
    assert_eq!(&w("1,")[..2], [1, 0]);
    assert_eq!(w("\"\""), [0; MAX_MEMBERS]);
    let many: Vec<String> = (1..=17).map(|i| i.to_string()).collect();
    let all = w(&many.join(","));
    assert_eq!(all[15], 16);
    assert_eq!(all[0], 1);
    assert_err(
        &with_ticket("weights = 1 a\n"),
        5,
        "Invalid character at \"a\"",
    );
    assert_err(
        &with_ticket("weights = 1,2,x3\n"),
        5,
        "Invalid character at \"x3\"",
    );
    assert_err(
        &with_ticket("weights = 0x\n"),
        5,
        "Invalid character at \"x\"",
    );
    assert_err(
        &with_ticket("weights = ,1\n"),
        5,
        "No integer weight value at \",1\"",
    );
    assert_err(
        &with_ticket("weights = x\n"),
        5,
        "No integer weight value at \"x\"",
    );
}

#[test]
fn before_acquire_handler() {
    let h = |v: &str| {
        ticket(&with_ticket(&format!("before-acquire-handler = {v}\n")))
            .before_acquire_handler
            .clone()
    };
    assert_eq!(
        h("/usr/lib/booth/check  a\tb"),
        Some(vec!["/usr/lib/booth/check".into(), "a".into(), "b".into()])
    );
    let fifteen: Vec<String> = (0..15).map(|i| format!("a{i}")).collect();
    assert_eq!(h(&fifteen.join(" ")).unwrap().len(), 15);
    let sixteen: Vec<String> = (0..16).map(|i| format!("a{i}")).collect();
    assert_err(
        &with_ticket(&format!("before-acquire-handler = {}\n", sixteen.join(" "))),
        5,
        "too many arguments for the acquire-handler",
    );
    // A later line replaces an earlier one.
    let t = ticket(&with_ticket(
        "before-acquire-handler = /bin/a x\nbefore-acquire-handler = /bin/b\n",
    ));
    assert_eq!(t.before_acquire_handler, Some(vec!["/bin/b".to_string()]));
    assert_err(
        &with_ticket("before-acquire-handler = \" \t\"\n"),
        5,
        "before-acquire-handler needs a program path",
    );
}

#[test]
fn attr_prereq() {
    let t = ticket(&with_ticket(
        "attr-prereq = auto repl eq ACTIVE\nattr-prereq = manual\tx  ne  y\n",
    ));
    assert_eq!(
        t.attr_prereqs,
        vec![
            AttrPrereq {
                grant_type: GrantType::Auto,
                name: "repl".into(),
                op: AttrOp::Eq,
                value: "ACTIVE".into()
            },
            AttrPrereq {
                grant_type: GrantType::Manual,
                name: "x".into(),
                op: AttrOp::Ne,
                value: "y".into()
            },
        ]
    );
    let e = |v: &str, msg: &str| assert_err(&with_ticket(&format!("attr-prereq = {v}\n")), 5, msg);
    e("Auto a eq b", "Auto is not a grant type");
    e("always a eq b", "always is not a grant type");
    e("auto a EQ b", "EQ is not an attribute operation");
    e("auto a lt b", "lt is not an attribute operation");
    e("auto", "not enough arguments to attr-prereq");
    e("auto a", "not enough arguments to attr-prereq");
    e("auto a eq", "not enough arguments to attr-prereq");
    e("\" \"", "not enough arguments to attr-prereq");
    // The grant type is checked before the word count.
    e("bogus", "bogus is not a grant type");
    let cfg = ok(&with_ticket("attr-prereq = auto a eq b c\n"));
    assert_eq!(cfg.tickets[0].attr_prereqs[0].value, "b");
    assert!(has_warning(&cfg, "words after the fourth are ignored"));
}

#[test]
fn mode() {
    let m = |v: &str| ok(&with_ticket(&format!("mode = {v}\n")));
    for v in ["manual", "MANUAL", "Manual"] {
        assert_eq!(m(v).tickets[0].mode, TicketMode::Manual);
    }
    for v in ["auto", "AUTOMATIC"] {
        let cfg = m(v);
        assert_eq!(cfg.tickets[0].mode, TicketMode::Auto);
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    }
    let cfg = m("manaul");
    assert_eq!(cfg.tickets[0].mode, TicketMode::Auto);
    assert!(has_warning(&cfg, "mode \"manaul\" is not \"manual\""));
}
