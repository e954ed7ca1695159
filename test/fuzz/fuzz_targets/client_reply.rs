//! The client's reply parsing: `decode_reply` on arbitrary bytes (with and
//! without a key), then the interpretation of the result code as `booth
//! grant`/`revoke` and `geostore` do it. A hostile daemon must not make the
//! client panic or over-read.
#![no_main]

use booth::cli::{ClientOp, GeoOp};
use booth::client::outcome::{attr_result, query_result, CommandProgress};
use booth::wire::{self, Framing, Reply};
use libfuzzer_sys::fuzz_target;

mod common;
use common::capture_key;

fuzz_target!(|data: &[u8]| {
    let key = capture_key();
    for k in [None, Some(&key)] {
        let Ok(Framing::Complete { msg, consumed }) = wire::decode_reply(data, k) else {
            continue;
        };
        assert!(consumed <= data.len());
        let h = *msg.msg.header();
        let leader = match &msg.msg {
            Reply::Ticket(t) => Some(t.body.leader),
            _ => None,
        };
        for op in [ClientOp::List, ClientOp::Peers] {
            let _ = query_result(op, h.result, "ticketA");
        }
        for op in [ClientOp::Grant, ClientOp::Revoke] {
            let mut p = CommandProgress::new(op, "ticketA", h.options);
            let mut lines = Vec::new();
            let _ = p.on_reply(h.result, leader, Some("127.0.0.2"), &mut lines);
            let _ = p.on_reply(h.result, leader, None, &mut lines);
            let _ = p.failure_lines(h.result);
        }
        for op in [GeoOp::List, GeoOp::Get, GeoOp::Set, GeoOp::Delete] {
            let _ = attr_result(op, h.result, "ticketA", "attr");
        }
    }
});
