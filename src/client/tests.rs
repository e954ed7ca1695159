//! Target selection and reply interpretation, without any network.

use std::path::Path;
use std::time::Duration;

use super::outcome::{attr_result, query_result, CommandProgress, Step, GIVING_UP};
use super::target::{EXIT_SITE_NOT_FOUND, NO_LOCAL_SITE};
use super::*;
use crate::cli::SiteArg;
use crate::config::SystemResolver;
use crate::wire::codes::*;
use crate::wire::{Rlt, OPT_WAIT, OPT_WAIT_COMMIT};

/// Two sites and an arbitrator (the spec's example addresses).
const THREE: &str = "site = \"192.168.201.100\"\n\
                     site = \"192.168.202.100\"\n\
                     arbitrator = \"192.168.203.100\"\n\
                     ticket = \"ticketA\"\n";

fn config(text: &str) -> Config {
    Config::parse_str(text, Path::new("booth.conf"), &SystemResolver).expect("valid config")
}

fn name(s: &str) -> SiteArg {
    SiteArg::Name(s.to_string())
}

const GRANT: Operation = Operation::Client(ClientOp::Grant);
const REVOKE: Operation = Operation::Client(ClientOp::Revoke);
const LIST: Operation = Operation::Client(ClientOp::List);
const PEERS: Operation = Operation::Client(ClientOp::Peers);
const GEO_SET: Operation = Operation::Geostore(GeoOp::Set);
const GEO_DEL: Operation = Operation::Geostore(GeoOp::Delete);
const GEO_LIST: Operation = Operation::Geostore(GeoOp::List);
const GEO_GET: Operation = Operation::Geostore(GeoOp::Get);

fn refusal(message: &str, exit_code: i32) -> Result<usize, Refusal> {
    Err(Refusal {
        message: message.to_string(),
        exit_code,
    })
}

// ---------------------------------------------------------------------------
// Target selection

#[test]
fn without_s_the_local_member_is_the_target() {
    let c = config(THREE);
    for op in [GRANT, REVOKE, LIST, PEERS, GEO_SET, GEO_LIST] {
        assert_eq!(select_target(&c, Some(1), None, op), Ok(1));
    }
}

#[test]
fn without_s_and_without_a_local_site_the_client_explains_instead_of_crashing() {
    let c = config(THREE);
    for op in [GRANT, LIST, PEERS, GEO_GET, GEO_DEL] {
        assert_eq!(select_target(&c, None, None, op), refusal(NO_LOCAL_SITE, 1));
    }
    // An index the configuration does not have counts as none.
    assert_eq!(
        select_target(&c, Some(7), None, LIST),
        refusal(NO_LOCAL_SITE, 1)
    );
}

#[test]
fn s_other_is_the_one_other_site() {
    let c = config(THREE);
    assert_eq!(
        select_target(&c, Some(0), Some(&SiteArg::Other), GRANT),
        Ok(1)
    );
    assert_eq!(
        select_target(&c, Some(1), Some(&SiteArg::Other), LIST),
        Ok(0)
    );
}

#[test]
fn s_other_fails_unless_exactly_one_other_site_exists() {
    let c = config(THREE);
    // From the arbitrator both sites are "other".
    assert_eq!(
        select_target(&c, Some(2), Some(&SiteArg::Other), REVOKE),
        refusal("Site \"other\" not configured.", 1)
    );
    assert_eq!(
        select_target(&c, Some(2), Some(&SiteArg::Other), PEERS),
        refusal("cannot find site \"other\"", EXIT_SITE_NOT_FOUND)
    );
    // Without a local member the same holds.
    assert_eq!(
        select_target(&c, None, Some(&SiteArg::Other), LIST),
        refusal("cannot find site \"other\"", 2)
    );
    let one_site = config("site = \"10.0.0.1\"\narbitrator = \"10.0.0.2\"\n");
    assert_eq!(
        select_target(&one_site, None, Some(&SiteArg::Other), LIST),
        Ok(0)
    );
}

#[test]
fn s_address_matches_sites_and_arbitrators_exactly() {
    let c = config(THREE);
    assert_eq!(
        select_target(&c, Some(0), Some(&name("192.168.202.100")), GRANT),
        Ok(1)
    );
    assert_eq!(
        select_target(&c, None, Some(&name("192.168.203.100")), LIST),
        Ok(2)
    );
    assert_eq!(
        select_target(&c, None, Some(&name("192.168.203.100")), GEO_GET),
        Ok(2)
    );
    // No prefix or fuzzy matching.
    assert_eq!(
        select_target(&c, None, Some(&name("192.168.202.10")), LIST),
        refusal("cannot find site \"192.168.202.10\"", 2)
    );
}

#[test]
fn unknown_sites_use_the_texts_and_statuses_of_each_code_path() {
    let c = config(THREE);
    let s = name("10.9.9.9");
    for op in [GRANT, REVOKE, GEO_SET, GEO_DEL] {
        assert_eq!(
            select_target(&c, Some(0), Some(&s), op),
            refusal("Site \"10.9.9.9\" not configured.", 1)
        );
    }
    for op in [LIST, PEERS, GEO_LIST, GEO_GET] {
        assert_eq!(
            select_target(&c, Some(0), Some(&s), op),
            refusal("cannot find site \"10.9.9.9\"", 2)
        );
    }
}

#[test]
fn state_changes_refuse_arbitrators() {
    let c = config(THREE);
    let arb = name("192.168.203.100");
    let here = "We're just an arbitrator, cannot grant/revoke tickets here.";
    let there = "192.168.203.100 is just an arbitrator, cannot grant/revoke tickets there.";
    for op in [GRANT, REVOKE] {
        assert_eq!(select_target(&c, Some(2), None, op), refusal(here, 1));
        assert_eq!(
            select_target(&c, Some(0), Some(&arb), op),
            refusal(there, 1)
        );
        // Named explicitly while running on the arbitrator: "here".
        assert_eq!(select_target(&c, Some(2), Some(&arb), op), refusal(here, 1));
    }
    let here = "We're just an arbitrator, no attributes here.";
    let there = "192.168.203.100 is just an arbitrator, no attributes there.";
    for op in [GEO_SET, GEO_DEL] {
        assert_eq!(select_target(&c, Some(2), None, op), refusal(here, 1));
        assert_eq!(select_target(&c, None, Some(&arb), op), refusal(there, 1));
    }
    // Queries may ask an arbitrator.
    for op in [LIST, PEERS, GEO_LIST, GEO_GET] {
        assert_eq!(select_target(&c, Some(2), None, op), Ok(2));
    }
}

#[test]
fn site_names_are_resolved_to_ipv4_only_when_they_are_not_addresses() {
    assert_eq!(resolve_site_name(&SiteArg::Other), SiteArg::Other);
    assert_eq!(resolve_site_name(&name("10.0.0.1")), name("10.0.0.1"));
    // IPv6 literals are kept (C resolves with AF_INET only).
    assert_eq!(resolve_site_name(&name("2001:db8::1")), name("2001:db8::1"));
    assert_eq!(resolve_site_name(&name("::1")), name("::1"));
}

#[test]
fn the_ticket_defaults_to_the_only_configured_one() {
    let one = config(THREE);
    assert_eq!(select_ticket(&one, Some("other")), Ok("other".to_string()));
    assert_eq!(select_ticket(&one, None), Ok("ticketA".to_string()));
    assert_eq!(select_ticket(&one, Some("")), Ok("ticketA".to_string()));
    let two = config(&format!("{THREE}ticket = \"ticketB\"\n"));
    assert_eq!(select_ticket(&two, Some("ticketB")), Ok("ticketB".into()));
    let none = Err(Refusal {
        message: "No ticket given.".into(),
        exit_code: 1,
    });
    assert_eq!(select_ticket(&two, None), none);
    let zero = config("site = \"10.0.0.1\"\n");
    assert_eq!(select_ticket(&zero, None), none);
}

#[test]
fn the_default_reply_timeout_covers_two_election_rounds() {
    assert_eq!(default_reply_timeout(&config(THREE)), MIN_REPLY_TIMEOUT);
    let slow = config(&format!(
        "{THREE}    timeout = 40\n    retries = 3\n    expire = 600\n"
    ));
    assert_eq!(default_reply_timeout(&slow), Duration::from_secs(80));
    assert_eq!(
        default_reply_timeout(&config("site = \"10.0.0.1\"\n")),
        MIN_REPLY_TIMEOUT
    );
}

// ---------------------------------------------------------------------------
// grant / revoke replies

/// Feeds results to a fresh progress; returns all lines and the last step.
fn run_replies(op: ClientOp, options: u32, results: &[Rlt]) -> (Vec<String>, Step) {
    let mut p = CommandProgress::new(op, "ticketA", options);
    let mut lines = Vec::new();
    let mut step = Step::ReadMore;
    for &r in results {
        assert_eq!(step, Step::ReadMore, "reply after the end");
        step = p.on_reply(r, Some(0x5085_F484), None, &mut lines);
    }
    (lines, step)
}

#[test]
fn final_grant_results_have_the_c_texts_and_statuses() {
    let cases: &[(Rlt, &str, i32)] = &[
        (RLT_SUCCESS, "grant succeeded!", 0),
        (RLT_SYNC_SUCC, "grant succeeded!", 0),
        (RLT_CIB_PENDING, "grant succeeded (CIB commit pending)", 0),
        (RLT_TICKET_IDLE, "ticket is not owned", 0),
        (
            RLT_ASYNC,
            "grant command sent, result will be returned asynchronously. \
             Please use \"booth list\" to see the outcome.",
            0,
        ),
        (
            RLT_OVERGRANT,
            "You're granting a granted ticket. If you wanted to migrate a ticket, \
             use revoke first, then use grant.",
            1,
        ),
        (RLT_SYNC_FAIL, "grant failed!", 1),
        (RLT_INVALID_ARG, "ticket \"ticketA\" does not exist", 1),
        (RLT_AUTH, "authentication error", 1),
        (
            RLT_EXT_FAILED,
            "before-acquire-handler for ticket \"ticketA\" failed, grant denied",
            1,
        ),
        (
            RLT_ATTR_PREREQ,
            "attr-prereq for ticket \"ticketA\" failed, grant denied",
            1,
        ),
        // Unknown codes show the code itself (C printed 0).
        (RLT_BUSY, "got an error code: Busy", 1),
        (Rlt(0x0102_0304), "got an error code: 0x01020304", 1),
    ];
    for &(result, text, code) in cases {
        let (lines, step) = run_replies(ClientOp::Grant, 0, &[result]);
        assert_eq!(lines, vec![text.to_string()], "{}", code_to_string(result));
        assert_eq!(step, Step::Exit(code), "{}", code_to_string(result));
    }
    let (lines, step) = run_replies(ClientOp::Revoke, 0, &[RLT_SUCCESS]);
    assert_eq!(
        (lines, step),
        (vec!["revoke succeeded!".into()], Step::Exit(0))
    );
}

#[test]
fn more_then_success() {
    let (lines, step) = run_replies(ClientOp::Grant, 0, &[RLT_MORE, RLT_SUCCESS]);
    assert_eq!(
        lines,
        vec![
            "grant request sent, waiting for the result ...".to_string(),
            "grant succeeded!".to_string()
        ]
    );
    assert_eq!(step, Step::Exit(0));
}

#[test]
fn the_third_intermediate_reply_ends_the_wait_without_w() {
    let (lines, step) = run_replies(ClientOp::Grant, 0, &[RLT_MORE, RLT_MORE, RLT_MORE]);
    assert_eq!(
        lines,
        vec![
            "grant request sent, waiting for the result ...".to_string(),
            GIVING_UP.to_string()
        ]
    );
    assert_eq!(step, Step::Exit(0));
    assert_eq!(
        GIVING_UP,
        "Giving up on waiting for the definite result. \
         Please use \"booth list\" later to see the outcome."
    );
}

#[test]
fn with_w_the_client_keeps_waiting() {
    let mut results = vec![RLT_MORE; 10];
    results.push(RLT_SUCCESS);
    let (lines, step) = run_replies(ClientOp::Grant, OPT_WAIT, &results);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1], "grant succeeded!");
    assert_eq!(step, Step::Exit(0));
}

#[test]
fn cib_pending_is_final_without_c_and_intermediate_with_it() {
    let (lines, step) = run_replies(ClientOp::Grant, 0, &[RLT_MORE, RLT_CIB_PENDING]);
    assert_eq!(
        lines,
        vec![
            "grant request sent, waiting for the result ...".to_string(),
            "grant succeeded (CIB commit pending)".to_string()
        ]
    );
    assert_eq!(step, Step::Exit(0));

    let c = OPT_WAIT | OPT_WAIT_COMMIT;
    let (lines, step) = run_replies(
        ClientOp::Grant,
        c,
        &[RLT_MORE, RLT_CIB_PENDING, RLT_CIB_PENDING, RLT_SUCCESS],
    );
    assert_eq!(
        lines,
        vec![
            "grant request sent, waiting for the result ...".to_string(),
            "grant succeeded (CIB commit pending)".to_string(),
            "waiting for the CIB commit ...".to_string(),
            // Only one note about the commit, as in C.
            "grant succeeded (CIB commit pending)".to_string(),
            "grant succeeded!".to_string(),
        ]
    );
    assert_eq!(step, Step::Exit(0));
}

#[test]
fn redirect_names_the_leader_of_the_reply() {
    let mut p = CommandProgress::new(ClientOp::Revoke, "ticketA", 0);
    let mut lines = Vec::new();
    assert_eq!(
        p.on_reply(RLT_REDIRECT, Some(0x7BA8_A747), None, &mut lines),
        Step::Redirect(0x7BA8_A747)
    );
    assert!(lines.is_empty());
    // A header-only redirect names nobody (id 0, never a site).
    assert_eq!(
        p.on_reply(RLT_REDIRECT, None, None, &mut lines),
        Step::Redirect(0)
    );
}

#[test]
fn a_grant_lost_to_another_site_names_it() {
    let mut p = CommandProgress::new(ClientOp::Grant, "ticketA", 0);
    let mut lines = Vec::new();
    let step = p.on_reply(
        RLT_SYNC_FAIL,
        Some(0x7BA8_A747),
        Some("192.168.202.100"),
        &mut lines,
    );
    assert_eq!(step, Step::Exit(1));
    assert_eq!(
        lines,
        vec!["grant failed! (ticket granted to 192.168.202.100)".to_string()]
    );
    // Not for revoke.
    let mut p = CommandProgress::new(ClientOp::Revoke, "ticketA", 0);
    let mut lines = Vec::new();
    p.on_reply(RLT_SYNC_FAIL, Some(1), Some("192.168.202.100"), &mut lines);
    assert_eq!(lines, vec!["revoke failed!".to_string()]);
}

#[test]
fn untrusted_replies_report_only_failures() {
    let p = CommandProgress::new(ClientOp::Grant, "ticketA", 0);
    assert_eq!(
        p.failure_lines(RLT_AUTH),
        vec!["authentication error".to_string()]
    );
    assert_eq!(
        p.failure_lines(RLT_INVALID_ARG),
        vec!["ticket \"ticketA\" does not exist".to_string()]
    );
    for ok in [
        RLT_SUCCESS,
        RLT_MORE,
        RLT_CIB_PENDING,
        RLT_REDIRECT,
        RLT_TICKET_IDLE,
    ] {
        assert!(p.failure_lines(ok).is_empty(), "{}", code_to_string(ok));
    }
}

// ---------------------------------------------------------------------------
// list / peers / geostore replies

#[test]
fn query_results() {
    assert_eq!(
        query_result(ClientOp::List, RLT_SUCCESS, ""),
        (Vec::new(), 0)
    );
    assert_eq!(
        query_result(ClientOp::Peers, RLT_AUTH, ""),
        (vec!["authentication error".to_string()], 1)
    );
    // Grant-only intermediate codes are errors in answer to a query.
    assert_eq!(
        query_result(ClientOp::List, RLT_MORE, ""),
        (vec!["got an error code: More".to_string()], 1)
    );
}

#[test]
fn attribute_results() {
    let r = |op, code| attr_result(op, code, "ticketA", "color");
    assert_eq!(
        r(GeoOp::Set, RLT_SUCCESS),
        (vec!["set succeeded!".to_string()], 0)
    );
    assert_eq!(r(GeoOp::Delete, RLT_SUCCESS), (Vec::new(), 0));
    assert_eq!(r(GeoOp::Get, RLT_SUCCESS), (Vec::new(), 0));
    assert_eq!(r(GeoOp::List, RLT_SUCCESS), (Vec::new(), 0));
    assert_eq!(
        r(GeoOp::Get, RLT_NO_SUCH_ATTR),
        (vec!["attribute \"color\" not set".to_string()], 1)
    );
    assert_eq!(
        r(GeoOp::List, RLT_INVALID_ARG),
        (vec!["ticket \"ticketA\" does not exist".to_string()], 1)
    );
    assert_eq!(
        r(GeoOp::Delete, RLT_SYNC_FAIL),
        (vec!["delete failed!".to_string()], 1)
    );
    assert_eq!(
        r(GeoOp::Set, RLT_AUTH),
        (vec!["authentication error".to_string()], 1)
    );
    assert_eq!(
        r(GeoOp::Set, RLT_ASYNC),
        (
            vec!["set command sent, result will be returned asynchronously.".to_string()],
            0
        )
    );
    assert_eq!(
        r(GeoOp::Set, RLT_OVERGRANT),
        (vec!["got an error code: Over".to_string()], 1)
    );
}
