//! A configuration built in memory, as the parser would produce it from a
//! file: for the engine's and the core's unit tests, the simulator and the
//! model checker, which all need members on 198.51.100.0/24 and tickets
//! they describe themselves.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Config, Member, MemberKind, TicketConfig, Transport};

impl Config {
    /// Members of `kinds` at 198.51.100.1, .2, ... (port 9929), member `i`
    /// with site id `site_id(i)`, and `tickets` in order.
    pub fn synthetic(
        kinds: &[MemberKind],
        tickets: Vec<TicketConfig>,
        site_id: impl Fn(usize) -> u32,
    ) -> Config {
        let members = kinds
            .iter()
            .enumerate()
            .map(|(i, &kind)| Member {
                index: i,
                kind,
                addr_string: format!("198.51.100.{}", i + 1),
                addr: format!("198.51.100.{}", i + 1)
                    .parse()
                    .expect("literal address"),
                port: 9929,
                site_id: site_id(i),
            })
            .collect();
        Config {
            path: PathBuf::from("/etc/booth/booth.conf"),
            name: "booth".into(),
            transport: Transport::Udp,
            port: 9929,
            authfile: None,
            enable_authfile: None,
            maxtimeskew: 600,
            members,
            member_text: Vec::new(),
            site_user: "hacluster".into(),
            site_group: "haclient".into(),
            arbitrator_user: "nobody".into(),
            arbitrator_group: "nobody".into(),
            debug: 0,
            tickets: tickets.into_iter().map(Arc::new).collect(),
            subsecond_times: false,
            warnings: vec![],
        }
    }
}
