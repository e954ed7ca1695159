//! What a reply's `result` means to the user: the message lines (stderr)
//! and what to do next (client.md §4–§6, C's `test_reply`,
//! `test_attr_reply` and the loop of `do_command`).
//!
//! Pure functions over result codes; no I/O.

use crate::cli::{ClientOp, GeoOp};
use crate::wire::codes::*;
use crate::wire::{Rlt, OPT_WAIT, OPT_WAIT_COMMIT};

/// Verdict of C's `test_reply` for one result code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Final answer with this exit status.
    Final(i32),
    /// `RLT_MORE`: the daemon is still working.
    More,
    /// `RLT_CIB_PENDING` while the client waits for the commit (`-C`).
    CommitPending,
    /// `RLT_REDIRECT`: ask the site named in the reply.
    Redirect,
}

fn op_word(op: ClientOp) -> &'static str {
    match op {
        ClientOp::Grant => "grant",
        ClientOp::Revoke => "revoke",
        ClientOp::List => "list",
        ClientOp::Peers => "peers",
    }
}

/// C's `test_reply`, plus the leader note for a failed grant and the actual
/// code for unknown results (C printed a constant 0 there, README bug 38).
///
/// `granted_to`: the address of another site the reply names as the
/// ticket's leader, if any.
fn test_reply(
    op: ClientOp,
    result: Rlt,
    ticket: &str,
    wait_commit: bool,
    granted_to: Option<&str>,
    lines: &mut Vec<String>,
) -> Verdict {
    let word = op_word(op);
    let query = matches!(op, ClientOp::List | ClientOp::Peers);
    let mut say = |s: String| lines.push(s);
    match result {
        RLT_OVERGRANT => {
            say(
                "You're granting a granted ticket. If you wanted to migrate a ticket, \
                 use revoke first, then use grant."
                    .into(),
            );
            Verdict::Final(1)
        }
        RLT_TICKET_IDLE => {
            say("ticket is not owned".into());
            Verdict::Final(0)
        }
        RLT_ASYNC => {
            say(format!(
                "{word} command sent, result will be returned asynchronously. \
                 Please use \"booth list\" to see the outcome."
            ));
            Verdict::Final(0)
        }
        // Intermediate codes mean nothing in answer to a query.
        RLT_CIB_PENDING if !query => {
            say(format!("{word} succeeded (CIB commit pending)"));
            if wait_commit {
                Verdict::CommitPending
            } else {
                Verdict::Final(0)
            }
        }
        RLT_MORE if !query => Verdict::More,
        RLT_REDIRECT if !query => Verdict::Redirect,
        RLT_SUCCESS | RLT_SYNC_SUCC => {
            if !query {
                say(format!("{word} succeeded!"));
            }
            Verdict::Final(0)
        }
        RLT_SYNC_FAIL => {
            match granted_to.filter(|_| op == ClientOp::Grant) {
                Some(addr) => say(format!("{word} failed! (ticket granted to {addr})")),
                None => say(format!("{word} failed!")),
            }
            Verdict::Final(1)
        }
        RLT_INVALID_ARG => {
            say(format!("ticket \"{ticket}\" does not exist"));
            Verdict::Final(1)
        }
        RLT_AUTH => {
            say("authentication error".into());
            Verdict::Final(1)
        }
        RLT_EXT_FAILED => {
            say(format!(
                "before-acquire-handler for ticket \"{ticket}\" failed, grant denied"
            ));
            Verdict::Final(1)
        }
        RLT_ATTR_PREREQ => {
            say(format!(
                "attr-prereq for ticket \"{ticket}\" failed, grant denied"
            ));
            Verdict::Final(1)
        }
        other => {
            say(unknown_code(other));
            Verdict::Final(1)
        }
    }
}

fn unknown_code(code: Rlt) -> String {
    format!("got an error code: {}", code_to_string(code))
}

/// The outcome of a `booth list` or `booth peers` reply (its text, if any,
/// has already been printed): message lines and exit status.
pub fn query_result(op: ClientOp, result: Rlt, ticket: &str) -> (Vec<String>, i32) {
    let mut lines = Vec::new();
    let code = match test_reply(op, result, ticket, false, None, &mut lines) {
        Verdict::Final(code) => code,
        // test_reply never returns these for list/peers.
        Verdict::More | Verdict::CommitPending | Verdict::Redirect => 1,
    };
    (lines, code)
}

/// What the client does after a grant or revoke reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Read the next reply on the same connection.
    ReadMore,
    /// Close, connect to the member with this site id and send the request
    /// again (with a fresh header).
    Redirect(u32),
    /// Done, with this exit status.
    Exit(i32),
}

/// The reply loop of a grant or revoke (C's `do_command`): counts the
/// intermediate replies and decides when to give up waiting.
#[derive(Clone, Debug)]
pub struct CommandProgress {
    op: ClientOp,
    ticket: String,
    wait: bool,
    wait_commit: bool,
    /// Intermediate replies seen so far (C's `reply_cnt`; not reset by a
    /// redirect, as in C).
    intermediate: u32,
    /// Progress notes printed so far (C's `msg_logged`).
    notes: u32,
}

/// The giving-up message after the third intermediate reply without `-w`.
pub const GIVING_UP: &str = "Giving up on waiting for the definite result. \
                             Please use \"booth list\" later to see the outcome.";

impl CommandProgress {
    /// `options` are the request's `OPT_*` bits.
    pub fn new(op: ClientOp, ticket: &str, options: u32) -> CommandProgress {
        CommandProgress {
            op,
            ticket: ticket.to_string(),
            wait: options & OPT_WAIT != 0,
            wait_commit: options & OPT_WAIT_COMMIT != 0,
            intermediate: 0,
            notes: 0,
        }
    }

    /// "grant" or "revoke".
    pub fn op_word(&self) -> &'static str {
        op_word(self.op)
    }

    /// Whether an intermediate reply has arrived (the request is known to be
    /// in progress at the daemon).
    pub fn in_progress(&self) -> bool {
        self.intermediate > 0
    }

    /// Interprets one reply. `leader` is the reply's ticket-body leader id
    /// (absent in header-only replies); `granted_to` the address of the
    /// site it names when that is another site than the one asked.
    pub fn on_reply(
        &mut self,
        result: Rlt,
        leader: Option<u32>,
        granted_to: Option<&str>,
        lines: &mut Vec<String>,
    ) -> Step {
        let verdict = test_reply(
            self.op,
            result,
            &self.ticket,
            self.wait_commit,
            granted_to,
            lines,
        );
        match verdict {
            Verdict::Final(code) => Step::Exit(code),
            // A header-only redirect names nobody; the lookup of 0 fails
            // and is reported like any unknown site.
            Verdict::Redirect => Step::Redirect(leader.unwrap_or(0)),
            Verdict::More | Verdict::CommitPending => {
                if self.intermediate > 1 && !self.wait {
                    lines.push(GIVING_UP.into());
                    return Step::Exit(0);
                }
                if self.intermediate == 0 {
                    lines.push(format!(
                        "{} request sent, waiting for the result ...",
                        op_word(self.op)
                    ));
                    self.notes += 1;
                } else if verdict == Verdict::CommitPending && self.notes < 2 {
                    lines.push("waiting for the CIB commit ...".into());
                    self.notes += 1;
                }
                self.intermediate += 1;
                Step::ReadMore
            }
        }
    }

    /// The message for a result that arrived in a reply that could not be
    /// trusted or was cut short (failed authentication, connection closed
    /// early): C still reports it. Only failures are reported; a success
    /// code from an unauthenticated or incomplete reply proves nothing.
    pub fn failure_lines(&self, result: Rlt) -> Vec<String> {
        let mut lines = Vec::new();
        match test_reply(self.op, result, &self.ticket, false, None, &mut lines) {
            Verdict::Final(code) if code != 0 => lines,
            _ => Vec::new(),
        }
    }
}

/// C's `test_attr_reply`: message lines and exit status of a geostore reply.
pub fn attr_result(op: GeoOp, result: Rlt, ticket: &str, attr: &str) -> (Vec<String>, i32) {
    let word = match op {
        GeoOp::Set => "set",
        GeoOp::Get => "get",
        GeoOp::List => "list",
        GeoOp::Delete => "delete",
    };
    let (line, code) = match result {
        RLT_ASYNC => (
            Some(format!(
                "{word} command sent, result will be returned asynchronously."
            )),
            0,
        ),
        RLT_SUCCESS | RLT_SYNC_SUCC => {
            ((op == GeoOp::Set).then(|| format!("{word} succeeded!")), 0)
        }
        RLT_SYNC_FAIL => (Some(format!("{word} failed!")), 1),
        RLT_INVALID_ARG => (Some(format!("ticket \"{ticket}\" does not exist")), 1),
        RLT_NO_SUCH_ATTR => (Some(format!("attribute \"{attr}\" not set")), 1),
        RLT_AUTH => (Some("authentication error".into()), 1),
        other => (Some(unknown_code(other)), 1),
    };
    (line.into_iter().collect(), code)
}

/// [`attr_result`] for a reply that could not be trusted or was cut short:
/// only failures are reported.
pub fn attr_failure_lines(op: GeoOp, result: Rlt, ticket: &str, attr: &str) -> Vec<String> {
    match attr_result(op, result, ticket, attr) {
        (lines, code) if code != 0 => lines,
        _ => Vec::new(),
    }
}
