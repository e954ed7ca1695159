//! The driver's reachability probe (`Engine::probe`): one `OP_STATUS` for
//! the first ticket to the member asked, nothing else, and nothing before
//! the start or to itself.

use super::*;

fn sends(e: &mut Engine) -> Vec<(usize, TicketMsg)> {
    let mut out = Vec::new();
    while let Some(o) = e.poll_output() {
        if let Output::Send { to, msg, .. } = o {
            out.push((to, msg));
        }
    }
    out
}

#[test]
fn a_probe_is_one_status_query_to_the_member_asked() {
    let mut n = three(ticket("T", 20, 2, 3));
    let c = n.clock_of(0);
    let e = n.engines[0].as_mut().unwrap();
    sends(e);
    let before = e.ticket_view(Tix::at(0));
    e.probe(c, 2);
    let out = sends(e);
    assert_eq!(out.len(), 1, "{out:?}");
    let (to, msg) = &out[0];
    assert_eq!(*to, 2);
    assert_eq!(msg.header.cmd, OP_STATUS);
    assert_eq!(msg.body.name, "T");
    assert_eq!(
        e.ticket_view(Tix::at(0)),
        before,
        "the probe changes nothing"
    );
    e.probe(c, 0);
    assert!(sends(e).is_empty(), "no probe to ourselves");
}

#[test]
fn no_probe_before_the_start() {
    let n = three(ticket("T", 20, 2, 3));
    let mut e = new_engine(n.cfg.clone(), 0, 1);
    e.probe(n.clock_of(0), 1);
    assert!(sends(&mut e).is_empty());
}
