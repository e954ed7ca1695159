//! One table of replies and what the client makes of them: exit code and
//! message.

use super::*;

// ---------------------------------------------------------------------------
// Replies and what the client makes of them

/// What the client runs in an [`Exchange`].
pub(crate) enum Op {
    Client(ClientOp, Option<&'static str>),
    Geo(GeoOp, Option<&'static str>),
}

/// One exchange with site A's fake daemon: it answers the request with
/// `replies` (built by the cluster, which signs them when `auth`), and the
/// client ends with `code` and exactly these lines on stderr, within 5 s.
pub(crate) struct Exchange {
    pub(crate) name: &'static str,
    pub(crate) auth: bool,
    pub(crate) op: Op,
    pub(crate) replies: fn(&Cluster) -> Vec<Act>,
    pub(crate) code: i32,
    pub(crate) lines: &'static [&'static str],
}

impl Exchange {
    pub(crate) fn check(&self) {
        let name = self.name;
        let mut c = Cluster::new(name, &["ticketA"], self.auth);
        let daemon = c.serve_a((self.replies)(&c));
        let started = Instant::now();
        let out = match self.op {
            Op::Client(op, ticket) => run(&c.client(op, ticket)),
            Op::Geo(op, attr) => run_geo(&c.geostore(op, attr, None)),
        };
        let took = started.elapsed();
        daemon.join().unwrap();
        assert!(took < Duration::from_secs(5), "{name}: took {took:?}");
        assert_eq!(out.code, self.code, "{name}: {}", out.stderr);
        assert_eq!(out.lines(), self.lines, "{name}");
    }
}

/// Runs every exchange at once, each in a thread named after it (so its
/// panic message names it), and fails naming those that failed.
pub(crate) fn check_all(exchanges: &'static [Exchange]) {
    let runs: Vec<_> = exchanges
        .iter()
        .map(|x| {
            thread::Builder::new()
                .name(x.name.into())
                .spawn(move || x.check())
                .unwrap()
        })
        .collect();
    let failed: Vec<&str> = exchanges
        .iter()
        .zip(runs)
        .filter_map(|(x, run)| run.join().is_err().then_some(x.name))
        .collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

pub(crate) const GRANT_A: Op = Op::Client(ClientOp::Grant, Some("ticketA"));
pub(crate) const REVOKE_A: Op = Op::Client(ClientOp::Revoke, Some("ticketA"));
pub(crate) const SENT: &str = "grant request sent, waiting for the result ...";

pub(crate) const EXCHANGES: &[Exchange] = &[
    Exchange {
        name: "the_third_intermediate_reply_ends_the_wait_without_w",
        auth: false,
        op: GRANT_A,
        replies: |c| {
            let more = c.result(A, RLT_MORE, "ticketA", id_of(A));
            vec![
                Act::Send(more.clone()),
                Act::Send(more.clone()),
                Act::Send(more),
                Act::WaitEof,
            ]
        },
        code: 0,
        lines: &[
            SENT,
            "Giving up on waiting for the definite result. \
             Please use \"booth list\" later to see the outcome.",
        ],
    },
    Exchange {
        name: "cib_pending_ends_a_grant_without_c",
        auth: false,
        op: GRANT_A,
        replies: |c| {
            vec![
                Act::Send(c.result(A, RLT_MORE, "ticketA", id_of(A))),
                Act::Send(c.result(A, RLT_CIB_PENDING, "ticketA", id_of(A))),
                Act::WaitEof,
            ]
        },
        code: 0,
        lines: &[SENT, "grant succeeded (CIB commit pending)"],
    },
    Exchange {
        name: "a_redirect_to_an_unknown_site_fails",
        auth: false,
        op: REVOKE_A,
        replies: |c| vec![Act::Send(c.result(A, RLT_REDIRECT, "ticketA", 0x1234_5678))],
        code: 1,
        lines: &["Message with unknown redirect site 12345678 received"],
    },
    Exchange {
        name: "overgrant_fails",
        auth: false,
        op: GRANT_A,
        replies: |c| vec![Act::Send(c.result(A, RLT_OVERGRANT, "ticketA", id_of(B)))],
        code: 1,
        lines: &[
            "You're granting a granted ticket. If you wanted to migrate a ticket, \
          use revoke first, then use grant.",
        ],
    },
    Exchange {
        name: "an_unknown_ticket_is_reported",
        auth: false,
        op: Op::Client(ClientOp::Grant, Some("nope")),
        // C answers with a zeroed ticket body.
        replies: |c| vec![Act::Send(c.result(A, RLT_INVALID_ARG, "", 0))],
        code: 1,
        lines: &["ticket \"nope\" does not exist"],
    },
    Exchange {
        name: "a_header_only_auth_result_is_reported",
        auth: false,
        op: GRANT_A,
        replies: |c| vec![Act::Send(c.header_only(RLT_AUTH))],
        code: 1,
        lines: &["authentication error"],
    },
    Exchange {
        name: "a_grant_won_by_another_site_names_it",
        auth: false,
        op: GRANT_A,
        replies: |c| {
            vec![
                Act::Send(c.result(A, RLT_MORE, "ticketA", id_of(A))),
                Act::Send(c.result(A, RLT_SYNC_FAIL, "ticketA", id_of(B))),
            ]
        },
        code: 1,
        lines: &[SENT, "grant failed! (ticket granted to 127.0.0.2)"],
    },
    Exchange {
        name: "unknown_result_codes_are_shown",
        auth: false,
        op: REVOKE_A,
        replies: |c| vec![Act::Send(c.result(A, RLT_BUSY, "ticketA", NO_ONE))],
        code: 1,
        lines: &["got an error code: Busy"],
    },
    // Timeouts
    Exchange {
        name: "a_daemon_that_never_answers_times_out_without_w",
        auth: false,
        op: GRANT_A,
        replies: |_| vec![Act::WaitEof],
        code: 1,
        lines: &["no reply from 127.0.0.1 within 1 s"],
    },
    Exchange {
        name: "a_grant_left_pending_times_out_with_advice",
        auth: false,
        op: GRANT_A,
        replies: |c| {
            vec![
                Act::Send(c.result(A, RLT_MORE, "ticketA", id_of(A))),
                Act::WaitEof,
            ]
        },
        code: 1,
        lines: &[
            SENT,
            "no further reply from 127.0.0.1 within 1 s; the grant may still complete. \
             Please use \"booth list\" later to see the outcome.",
        ],
    },
    Exchange {
        name: "list_times_out_too",
        auth: false,
        op: Op::Client(ClientOp::List, None),
        replies: |_| vec![Act::WaitEof],
        code: 1,
        lines: &["no reply from 127.0.0.1 within 1 s"],
    },
    Exchange {
        name: "a_connection_closed_mid_reply_is_a_read_failure",
        auth: false,
        op: GRANT_A,
        replies: |c| {
            let mut partial = c.result(A, RLT_SUCCESS, "ticketA", id_of(A));
            partial.truncate(60);
            vec![Act::Send(partial)]
        },
        code: 1,
        // A success code from a cut-short reply is not reported as success.
        lines: &["read failed: connection closed by 127.0.0.1"],
    },
    // geostore
    Exchange {
        name: "geostore_get_of_a_missing_attribute",
        auth: false,
        op: Op::Geo(GeoOp::Get, Some("color")),
        replies: |c| vec![Act::Send(c.header_only(RLT_NO_SUCH_ATTR))],
        code: 1,
        lines: &["attribute \"color\" not set"],
    },
];

#[test]
fn replies_give_the_exit_code_and_message() {
    check_all(EXCHANGES);
}
