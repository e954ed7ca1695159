//! geostore against the fake daemons: attribute requests, replies, texts.

use super::*;

// ---------------------------------------------------------------------------
// geostore

pub(crate) fn attr_of(seen: &Seen) -> AttrMsg {
    match &seen.decoded {
        Request::Attr { msg, strings_ok } => {
            assert!(strings_ok);
            msg.clone()
        }
        other => panic!("not an attribute request: {other:?}"),
    }
}

#[test]
fn geostore_set() {
    let mut c = Cluster::new("geoset", &["ticketA"], false);
    let daemon = c.serve_a(vec![Act::Send(c.header_only(RLT_SUCCESS))]);
    let out = run_geo(&c.geostore(GeoOp::Set, Some("color"), Some("blue")));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines(), ["set succeeded!"]);
    assert_eq!(seen.request.len(), 304);
    assert_eq!(seen.extra, 0);
    let msg = attr_of(&seen);
    assert_eq!(msg.header.cmd, ATTR_SET);
    assert_eq!(msg.header.from, id_of(A));
    assert_eq!(
        msg.body,
        AttrBody {
            ticket: "ticketA".into(),
            name: "color".into(),
            value: "blue".into()
        }
    );
}

#[test]
fn geostore_get_prints_the_value_line() {
    let mut c = Cluster::new("geoget", &["ticketA"], false);
    let daemon = c.serve_a(vec![Act::Send(c.text(ATTR_GET, "blue\n"))]);
    let out = run_geo(&c.geostore(GeoOp::Get, Some("color"), None));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, b"blue\n");
    assert_eq!(out.stderr, "");
    assert_eq!(seen.request.len(), 304, "exactly `length`, no C padding");
    assert_eq!(attr_of(&seen).header.cmd, ATTR_GET);
}

#[test]
fn geostore_list_passes_the_text_through() {
    let mut c = Cluster::new("geolist", &["ticketA"], false);
    let text = "color blue 2024-05-06 14:03:27\nsize big \n";
    let daemon = c.serve_a(vec![Act::Send(c.text(ATTR_LIST, text))]);
    let out = run_geo(&c.geostore(GeoOp::List, None, None));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, text.as_bytes());
    let msg = attr_of(&seen);
    assert_eq!(
        (msg.header.cmd, msg.body.ticket.as_str()),
        (ATTR_LIST, "ticketA")
    );
}

#[test]
fn geostore_delete() {
    let mut c = Cluster::new("geodel", &["ticketA"], false);
    let daemon = c.serve_a(vec![Act::Send(c.header_only(RLT_SUCCESS))]);
    let out = run_geo(&c.geostore(GeoOp::Delete, Some("color"), None));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "", "delete succeeds silently");
    assert_eq!(attr_of(&seen).header.cmd, ATTR_DEL);
}

#[test]
fn geostore_unknown_ticket() {
    let mut c = Cluster::new("geoticket", &["ticketA", "ticketB"], false);
    let daemon = c.serve_a(vec![Act::Send(c.header_only(RLT_INVALID_ARG))]);
    let mut args = c.geostore(GeoOp::List, None, None);
    args.ticket = Some("ticketZ".into());
    let out = run_geo(&args);
    daemon.join().unwrap();
    assert_eq!(out.code, 1);
    assert_eq!(out.lines(), ["ticket \"ticketZ\" does not exist"]);
}

#[test]
fn geostore_needs_a_ticket_when_several_are_configured() {
    let c = Cluster::new("geonoticket", &["ticketA", "ticketB"], false);
    let out = run_geo(&c.geostore(GeoOp::Set, Some("color"), Some("blue")));
    assert_eq!(out.code, 1);
    assert_eq!(out.lines(), ["No ticket given."]);
}

#[test]
fn geostore_set_with_auth_reads_the_signed_result() {
    // 9d4029a's client misreads this reply and reports an authentication
    // failure although the daemon stored the attribute.
    let mut c = Cluster::new("geoauth", &["ticketA"], true);
    let daemon = c.serve_a(vec![Act::Send(c.header_only(RLT_SUCCESS))]);
    let out = run_geo(&c.geostore(GeoOp::Set, Some("color"), Some("blue")));
    let seen = daemon.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.lines(), ["set succeeded!"]);
    assert_eq!(seen.request.len(), 332);
    assert_eq!(attr_of(&seen).body.value, "blue");
}

#[test]
fn geostore_refuses_arbitrators_for_set() {
    let c = Cluster::new("geoarb", &["ticketA"], false);
    let mut args = c.geostore(GeoOp::Set, Some("color"), Some("blue"));
    args.site = Some(SiteArg::Name("127.0.0.3".into()));
    let out = run_geo(&args);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.lines(),
        ["127.0.0.3 is just an arbitrator, no attributes there."]
    );
}
