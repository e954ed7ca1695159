//! `--json`: the machine-readable forms of `booth list`, `booth peers` and
//! `boothd status` (our addition; the default text stays the C booth's).
//!
//! Every document is one JSON object on one line with `format` (which
//! command), `version` (of this layout, [`VERSION`]) and `source`:
//! `"daemon"` when our daemon built it with the facts the text hides
//! (term, lease end, last heard as a number, counters), `"text"` when the
//! client converted a text reply (a C daemon, or one of ours without
//! `--json` support): the hidden fields are then `null`. Fields are
//! documented in boothd(8) ("JSON OUTPUT") and in
//! `doc/booth-json.schema.json`.
//!
//! How the JSON form is asked for without disturbing C: the list/peers
//! request carries the [`OPT_JSON`] bit in its `options` field. C clients
//! never set it and the C daemon ignores `options` for list and peers, so
//! it answers its usual text, which never starts with `{`; our daemon
//! answers the JSON document instead. The client tells the two apart by
//! the first byte.

use std::fmt::Write as _;

/// The request `options` bit asking our daemon for JSON (list, peers).
pub const OPT_JSON: u32 = 1 << 16;
/// The layout's version; fields are only ever added within a version.
pub const VERSION: i64 = 1;

/// A JSON value, as much as these documents need.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<Json>),
    /// Keys in the order given (documents read better in a fixed order).
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// An object from `(key, value)` pairs.
    pub fn obj(fields: Vec<(&str, Json)>) -> Json {
        Json::Obj(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    pub fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }

    pub fn opt_str(s: Option<&str>) -> Json {
        s.map_or(Json::Null, Json::str)
    }

    pub fn opt_int(n: Option<i64>) -> Json {
        n.map_or(Json::Null, Json::Int)
    }

    pub fn uint(n: u64) -> Json {
        Json::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// The compact text, without a newline.
    pub fn render(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, s: &mut String) {
        match self {
            Json::Null => s.push_str("null"),
            Json::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(s, "{n}");
            }
            Json::Str(t) => write_str(s, t),
            Json::Arr(items) => {
                s.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    v.write(s);
                }
                s.push(']');
            }
            Json::Obj(fields) => {
                s.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    write_str(s, k);
                    s.push(':');
                    v.write(s);
                }
                s.push('}');
            }
        }
    }
}

fn write_str(s: &mut String, t: &str) {
    s.push('"');
    for c in t.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

/// The fields every document starts with.
pub fn head(format: &str, source: &str) -> Vec<(&'static str, Json)> {
    vec![
        ("format", Json::str(format)),
        ("version", Json::Int(VERSION)),
        ("source", Json::str(source)),
    ]
}

/// One ticket of `booth list --json`. The first five fields are what the
/// text shows; the rest are hidden by it (`None` from a text reply).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListTicket {
    pub ticket: String,
    /// An address, `NONE` (not known) or `none` (nobody), as in the text.
    pub leader: String,
    /// As the text shows it (`YYYY-MM-DD HH:MM:SS` in the daemon's time
    /// zone, or `INF`); only for a ticket someone holds, as in the text.
    pub expires: Option<String>,
    pub commit_pending_until: Option<String>,
    pub manual: bool,
    /// `Init`, `Fllw`, `Cndi` or `Lead`.
    pub state: Option<String>,
    pub term: Option<i64>,
    /// When the current lease ends, Unix seconds, whoever holds it.
    pub lease_end: Option<i64>,
    /// Whether this site last wrote "granted" for it to the CIB.
    pub granted_in_cib: Option<bool>,
}

impl ListTicket {
    /// The ticket's object in the document, written straight into `s`
    /// (see [`write_list_doc`]).
    pub fn write_json(&self, s: &mut String) {
        let opt_str = |s: &mut String, v: Option<&str>| match v {
            Some(v) => write_str(s, v),
            None => s.push_str("null"),
        };
        let opt_int = |s: &mut String, v: Option<i64>| match v {
            Some(n) => {
                let _ = write!(s, "{n}");
            }
            None => s.push_str("null"),
        };
        s.push_str("{\"ticket\":");
        write_str(s, &self.ticket);
        s.push_str(",\"leader\":");
        write_str(s, &self.leader);
        s.push_str(",\"expires\":");
        opt_str(s, self.expires.as_deref());
        s.push_str(",\"commit_pending_until\":");
        opt_str(s, self.commit_pending_until.as_deref());
        s.push_str(",\"manual\":");
        s.push_str(if self.manual { "true" } else { "false" });
        s.push_str(",\"state\":");
        opt_str(s, self.state.as_deref());
        s.push_str(",\"term\":");
        opt_int(s, self.term);
        s.push_str(",\"lease_end\":");
        opt_int(s, self.lease_end);
        s.push_str(",\"granted_in_cib\":");
        s.push_str(match self.granted_in_cib {
            Some(true) => "true",
            Some(false) => "false",
            None => "null",
        });
        s.push('}');
    }
}

/// The `booth list --json` document, each ticket written as it comes: a
/// daemon with 10,000 tickets builds no tree of the whole document.
pub fn write_list_doc(
    out: &mut String,
    source: &str,
    tickets: impl IntoIterator<Item = ListTicket>,
    warnings: &[String],
) {
    let mut head = Json::obj(head("booth-list", source)).render();
    head.pop(); // the closing brace: the document goes on
    out.push_str(&head);
    out.push_str(",\"tickets\":[");
    for (i, t) in tickets.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        t.write_json(out);
    }
    out.push_str("],\"warnings\":");
    Json::Arr(warnings.iter().map(|w| Json::str(w)).collect()).write(out);
    out.push('}');
}

/// Reads a `booth list` text reply (C's layout, which ours shares).
pub fn list_from_text(text: &str) -> String {
    let mut tickets = Vec::new();
    let mut warnings = Vec::new();
    for line in text.lines() {
        if let Some(w) = line.strip_prefix("WARNING: ") {
            warnings.push(w.to_string());
            continue;
        }
        let Some(rest) = line.strip_prefix("ticket: ") else {
            continue;
        };
        let (rest, manual) = match rest.strip_suffix(" [manual mode]") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (rest, pending) = match rest.split_once(" (commit pending until ") {
            Some((r, p)) => (r, p.strip_suffix(')').map(str::to_string)),
            None => (rest, None),
        };
        let (name, rest) = rest.split_once(", leader: ").unwrap_or((rest, ""));
        let (leader, expires) = match rest.split_once(", expires: ") {
            Some((l, e)) => (l, Some(e.to_string())),
            None => (rest, None),
        };
        tickets.push(ListTicket {
            ticket: name.to_string(),
            leader: leader.to_string(),
            expires,
            commit_pending_until: pending,
            manual,
            ..ListTicket::default()
        });
    }
    let mut out = String::new();
    write_list_doc(&mut out, "text", tickets, &warnings);
    out
}

/// One peer of `booth peers --json`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerEntry {
    /// `site` or `arbitrator`.
    pub role: String,
    pub address: String,
    /// As the text shows it (local time).
    pub last_recv: String,
    /// The same as Unix seconds (0: never); hidden by the text.
    pub last_recv_unix: Option<i64>,
    /// Whether the daemon considers the peer reachable (alerts configured
    /// only; `None` otherwise or from a text reply).
    pub reachable: Option<bool>,
    /// sent, send errors, resends, received, receive errors, authfail,
    /// invalid.
    pub counters: [u64; 7],
}

const PEER_COUNTERS: [&str; 7] = [
    "sent",
    "sent_errors",
    "resends",
    "received",
    "recv_errors",
    "authfail",
    "invalid",
];

/// The daemon's drop counters, in the text's order.
pub const DROPPED_FIELDS: [&str; 10] = [
    "stale_datagrams",
    "foreign_datagrams",
    "clients_refused",
    "clients_no_fd",
    "clients_evicted",
    "clients_oversized",
    "children_queued",
    "children_most_queued",
    "log_lines_lost",
    "log_lines_suppressed",
];

impl PeerEntry {
    fn json(&self) -> Json {
        let mut f = vec![
            ("role", Json::str(&self.role)),
            ("address", Json::str(&self.address)),
            ("last_recv", Json::str(&self.last_recv)),
            ("last_recv_unix", Json::opt_int(self.last_recv_unix)),
            ("reachable", self.reachable.map_or(Json::Null, Json::Bool)),
        ];
        for (k, v) in PEER_COUNTERS.iter().zip(self.counters) {
            f.push((k, Json::uint(v)));
        }
        Json::obj(f)
    }
}

/// The `booth peers --json` document. `dropped`: the counters of
/// [`DROPPED_FIELDS`] (`None` when a text reply did not show them);
/// `alerts`: the alert agents' counters (daemon only).
pub fn peers_doc(
    source: &str,
    peers: &[PeerEntry],
    dropped: Option<[u64; 10]>,
    alerts: Option<Json>,
) -> Json {
    let mut f = head("booth-peers", source);
    f.push(("peers", Json::Arr(peers.iter().map(|p| p.json()).collect())));
    let d = dropped.map_or(Json::Null, |d| {
        Json::obj(
            DROPPED_FIELDS
                .iter()
                .zip(d)
                .map(|(k, v)| (*k, Json::uint(v)))
                .collect(),
        )
    });
    f.push(("dropped", d));
    f.push(("alerts", alerts.unwrap_or(Json::Null)));
    Json::obj(f)
}

/// The numbers of `key:value` words, in order.
fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|w| w.rsplit_once(':'))
        .filter_map(|(_, v)| v.parse().ok())
        .collect()
}

/// Reads a `booth peers` text reply.
pub fn peers_from_text(text: &str) -> Json {
    let mut peers: Vec<PeerEntry> = Vec::new();
    let mut dropped: Option<Vec<u64>> = None;
    let mut in_dropped = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with('\t') {
            in_dropped = line.starts_with("dropped ");
            if in_dropped {
                dropped = Some(numbers(line));
                continue;
            }
            let (role, rest) = line.split_once(' ').unwrap_or((line, ""));
            let (address, last) = rest
                .trim_start()
                .split_once(", last recv: ")
                .unwrap_or((rest.trim_start(), ""));
            peers.push(PeerEntry {
                role: role.to_string(),
                address: address.to_string(),
                last_recv: last.to_string(),
                ..PeerEntry::default()
            });
        } else if in_dropped {
            if let Some(d) = dropped.as_mut() {
                d.extend(numbers(line));
            }
        } else if let Some(p) = peers.last_mut() {
            let n = numbers(line);
            let trimmed = line.trim_start();
            if trimmed.starts_with("Sent") {
                for (k, v) in n.into_iter().take(3).enumerate() {
                    p.counters[k] = v;
                }
            } else if trimmed.starts_with("Recv") {
                for (k, v) in n.into_iter().take(4).enumerate() {
                    p.counters[3 + k] = v;
                }
            }
        }
    }
    let dropped = dropped.and_then(|d| <[u64; 10]>::try_from(d).ok());
    peers_doc("text", &peers, dropped, None)
}

/// The `boothd status --json` document: the exit `status` (0 running, 7
/// not running, 1 unknown), what the text form printed on stdout
/// (`booth_lockpid=<pid> ` and/or the lock file's line) and the reason
/// when not running.
pub fn status_doc(status: i32, stdout: &str, reason: Option<&str>) -> Json {
    let words = shell_words(stdout);
    let get = |k: &str| words.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let pid = get("booth_lockpid")
        .or_else(|| get("booth_pid"))
        .and_then(|p| p.parse::<i64>().ok());
    let fields = words
        .iter()
        .filter(|(k, _)| k != "booth_lockpid" && k != "booth_lockfile")
        .map(|(k, v)| (k.clone(), Json::Str(v.clone())))
        .collect();
    let mut f = head("booth-status", "status");
    f.push(("running", Json::Bool(status == 0)));
    f.push(("status", Json::Int(status.into())));
    f.push(("pid", Json::opt_int(pid)));
    f.push(("lockfile", Json::opt_str(get("booth_lockfile").as_deref())));
    f.push(("fields", Json::Obj(fields)));
    f.push(("reason", Json::opt_str(reason)));
    Json::obj(f)
}

/// `name=value` words as a shell reads them (single and double quotes).
fn shell_words(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return out;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\'' | '"' => {
                    for q in chars.by_ref() {
                        if q == c {
                            break;
                        }
                        word.push(q);
                    }
                }
                c => word.push(c),
            }
        }
        if let Some((k, v)) = word.split_once('=') {
            out.push((k.to_string(), v.to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let j = Json::obj(vec![("a\"b", Json::str("x\\y\n\u{1}"))]);
        assert_eq!(j.render(), r#"{"a\"b":"x\\y\n\u0001"}"#);
    }

    #[test]
    fn list_text_is_read_with_hidden_fields_null() {
        let text = "ticket: A, leader: 10.0.0.1, expires: 2026-12-02 11:09:30 (commit pending until 2026-12-02 11:09:20)\n\
                    ticket: B, leader: NONE [manual mode]\n\
                    ticket: C, leader: 10.0.0.2, expires: INF [manual mode]\n\
                    \nWARNING: The ticket C is granted to multiple sites: 10.0.0.1, 10.0.0.2. Revoke the ticket from the faulty sites.\n";
        let j = list_from_text(text);
        assert!(j.starts_with(r#"{"format":"booth-list","version":1,"source":"text","tickets":[{"ticket":"A","leader":"10.0.0.1","expires":"2026-12-02 11:09:30","commit_pending_until":"2026-12-02 11:09:20","manual":false,"state":null,"term":null,"lease_end":null,"granted_in_cib":null}"#), "{j}");
        assert!(j.contains(r#"{"ticket":"B","leader":"NONE","expires":null,"commit_pending_until":null,"manual":true"#), "{j}");
        assert!(
            j.contains(r#""ticket":"C","leader":"10.0.0.2","expires":"INF""#),
            "{j}"
        );
        assert!(j.ends_with(r#""warnings":["The ticket C is granted to multiple sites: 10.0.0.1, 10.0.0.2. Revoke the ticket from the faulty sites."]}"#), "{j}");
    }

    #[test]
    fn the_list_document_writes_every_field_and_escapes() {
        let full = ListTicket {
            ticket: "a\"b".into(),
            leader: "10.0.0.1".into(),
            expires: Some("2026-12-02 11:09:30".into()),
            commit_pending_until: Some("x\\y\n\u{1}".into()),
            manual: true,
            state: Some("Lead".into()),
            term: Some(-7),
            lease_end: Some(1_800_000_000),
            granted_in_cib: Some(true),
        };
        let empty = ListTicket {
            ticket: "c".into(),
            leader: "NONE".into(),
            granted_in_cib: Some(false),
            ..ListTicket::default()
        };
        let unknown = ListTicket {
            ticket: "d".into(),
            ..ListTicket::default()
        };
        let mut out = String::new();
        write_list_doc(&mut out, "daemon", [full, empty, unknown], &["w\"1".into()]);
        assert_eq!(
            out,
            concat!(
                r#"{"format":"booth-list","version":1,"source":"daemon","tickets":["#,
                r#"{"ticket":"a\"b","leader":"10.0.0.1","expires":"2026-12-02 11:09:30","commit_pending_until":"x\\y\n\u0001","manual":true,"state":"Lead","term":-7,"lease_end":1800000000,"granted_in_cib":true},"#,
                r#"{"ticket":"c","leader":"NONE","expires":null,"commit_pending_until":null,"manual":false,"state":null,"term":null,"lease_end":null,"granted_in_cib":false},"#,
                r#"{"ticket":"d","leader":"","expires":null,"commit_pending_until":null,"manual":false,"state":null,"term":null,"lease_end":null,"granted_in_cib":null}"#,
                r#"],"warnings":["w\"1"]}"#
            )
        );
        let mut none = String::new();
        write_list_doc(&mut none, "text", [], &[]);
        assert!(
            none.ends_with(r#""source":"text","tickets":[],"warnings":[]}"#),
            "{none}"
        );
    }

    #[test]
    fn peers_text_is_read() {
        let text = "site         10.0.0.2, last recv: 2026-12-02 11:00:00\n\tSent pkts:5 error:0 resends:1\n\tRecv pkts:7 error:2 authfail:3 invalid:4\n\n\
                    arbitrator   10.0.0.3, last recv: 1970-01-01 00:00:00\n\tSent pkts:1 error:0 resends:0\n\tRecv pkts:0 error:0 authfail:0 invalid:0\n\n\
                    dropped      datagrams stale:1 foreign:2\n\tclients refused:3 no-fd:4 evicted:5 oversized:6\n\tchildren queued:7 most queued:8\n\tlog lines lost:9 suppressed:10\n\n";
        let j = peers_from_text(text).render();
        assert!(j.contains(r#"{"role":"site","address":"10.0.0.2","last_recv":"2026-12-02 11:00:00","last_recv_unix":null,"reachable":null,"sent":5,"sent_errors":0,"resends":1,"received":7,"recv_errors":2,"authfail":3,"invalid":4}"#), "{j}");
        assert!(
            j.contains(r#"{"role":"arbitrator","address":"10.0.0.3""#),
            "{j}"
        );
        assert!(j.contains(r#""dropped":{"stale_datagrams":1,"foreign_datagrams":2,"clients_refused":3,"clients_no_fd":4,"clients_evicted":5,"clients_oversized":6,"children_queued":7,"children_most_queued":8,"log_lines_lost":9,"log_lines_suppressed":10},"alerts":null}"#), "{j}");
        let none = peers_from_text("site         10.0.0.2, last recv: x\n").render();
        assert!(none.contains(r#""dropped":null"#), "{none}");
    }

    #[test]
    fn status_words_are_read() {
        let out = "booth_lockpid=42 booth_lockfile='/run/booth/booth.pid' booth_pid=42 booth_state=started booth_cfg_name='booth'\n";
        let j = status_doc(0, out, None).render();
        assert_eq!(
            j,
            r#"{"format":"booth-status","version":1,"source":"status","running":true,"status":0,"pid":42,"lockfile":"/run/booth/booth.pid","fields":{"booth_pid":"42","booth_state":"started","booth_cfg_name":"booth"},"reason":null}"#
        );
        let j = status_doc(7, "", Some("No PID file.")).render();
        assert!(j.contains(r#""running":false,"status":7,"pid":null,"lockfile":null,"fields":{},"reason":"No PID file.""#), "{j}");
    }
}
