//! Which configured member is this host?
//!
//! The daemon and `boothd status` need the member whose address is assigned
//! to a local interface (an *exact* match); the clients also accept a member
//! in the same subnet as a local address (a *fuzzy* match), which gives them
//! their `from` id and default target.
//!
//! Local addresses come from `getifaddrs(3)`. (The C booth 1.0-283 dumps
//! them over netlink itself and hangs on Linux ≥ 6.9; the C library's
//! implementation has no such problem.) The matching rules are a pure
//! function, [`match_local`], so they can be tested without touching the
//! host.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ptr;

use crate::config::{Config, Member};

/// One address assigned to a local interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalAddr {
    pub addr: IpAddr,
    /// Length of the subnet prefix (from the netmask): 0–32 or 0–128.
    pub prefix_len: u8,
}

impl LocalAddr {
    pub fn new(addr: IpAddr, prefix_len: u8) -> LocalAddr {
        LocalAddr { addr, prefix_len }
    }
}

/// Every IPv4 and IPv6 address of every interface, in the order the kernel
/// reports them (interfaces that are down still count, as in C).
pub fn local_addrs() -> io::Result<Vec<LocalAddr>> {
    let list = IfAddrs::new()?;
    let mut out = Vec::new();
    let mut cur = list.head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list returned by getifaddrs, which
        // stays allocated until `list` is dropped at the end of this
        // function; nodes are only read.
        let ifa = unsafe { &*cur };
        if let Some(addr) = sockaddr_ip(ifa.ifa_addr) {
            let full = if addr.is_ipv4() { 32 } else { 128 };
            let prefix_len = match sockaddr_ip(ifa.ifa_netmask) {
                Some(IpAddr::V4(mask)) if addr.is_ipv4() => u32::from(mask).leading_ones() as u8,
                Some(IpAddr::V6(mask)) if addr.is_ipv6() => u128::from(mask).leading_ones() as u8,
                // No (or an odd) netmask: treat the address as a host route.
                _ => full,
            };
            out.push(LocalAddr { addr, prefix_len });
        }
        cur = ifa.ifa_next;
    }
    Ok(out)
}

/// Owner of the list allocated by `getifaddrs`; frees it when dropped.
struct IfAddrs {
    head: *mut libc::ifaddrs,
}

impl IfAddrs {
    fn new() -> io::Result<IfAddrs> {
        let mut head: *mut libc::ifaddrs = ptr::null_mut();
        // SAFETY: getifaddrs only stores the head of a freshly allocated
        // list through the valid pointer we pass; on failure it stores
        // nothing we use.
        if unsafe { libc::getifaddrs(&mut head) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(IfAddrs { head })
    }
}

impl Drop for IfAddrs {
    fn drop(&mut self) {
        if !self.head.is_null() {
            // SAFETY: `head` came from a successful getifaddrs and is freed
            // exactly once, here; no reference into the list outlives
            // `local_addrs`, which owns this value.
            unsafe { libc::freeifaddrs(self.head) };
        }
    }
}

/// The IP address in a `sockaddr` of family AF_INET or AF_INET6 (None for a
/// null pointer or any other family, e.g. AF_PACKET link entries).
fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: a non-null sockaddr from getifaddrs points to at least a
    // `sockaddr` header, whose family tells the real size of the structure.
    let family = unsafe { ptr::read_unaligned(ptr::addr_of!((*sa).sa_family)) };
    match i32::from(family) {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in, which the C
            // library allocated in full.
            let sin = unsafe { ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>()) };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// Finds the local member among `members` given the host's addresses.
///
/// Returns the member's position in `members` and whether the match is
/// exact (the member's address is assigned here) rather than fuzzy (a local
/// address shares the subnet prefix with it). Daemon and `status` pass
/// `fuzzy = false`, clients `true`.
///
/// Rules, following the C booth's `find_myself`, IPv6 before IPv4:
/// * exact: the first local address (kernel order) equal to a member's
///   address, with the first such member in configuration order;
/// * fuzzy, only if no member matches exactly in either family: local
///   addresses in kernel order; one whose prefix is longer than the best so
///   far is compared with each member of its family in configuration order;
///   a member qualifies if its first `prefix_len` bits equal the local
///   address's (any prefix length, not only multiples of 8), and its count of
///   equal leading *bytes* times 8 is not below the best prefix so far
///   (including one just set by an earlier member on the same address). A
///   qualifying member replaces the previous candidate, so with a
///   byte-aligned prefix the last member of the subnet wins, as in C.
///
/// Difference from C (its bug 39): C checks exact and fuzzy matches in the
/// same scan and, once a fuzzy match with prefix P is found, no longer looks
/// at addresses with a shorter prefix, so an exact match on such an
/// interface was missed (and an IPv4 exact match lost to an IPv6 fuzzy
/// one). Here an exact match always wins. An IPv4-mapped IPv6 member
/// (`::ffff:a.b.c.d`) is an IPv6 member and never matches an IPv4 interface
/// address, as in C.
pub fn match_local(members: &[Member], locals: &[LocalAddr], fuzzy: bool) -> Option<(usize, bool)> {
    let families = [true, false]; // IPv6 pass, then IPv4
    for v6 in families {
        if let Some(index) = exact_match(members, locals, v6) {
            return Some((index, true));
        }
    }
    if fuzzy {
        for v6 in families {
            if let Some(index) = fuzzy_match(members, locals, v6) {
                return Some((index, false));
            }
        }
    }
    None
}

fn exact_match(members: &[Member], locals: &[LocalAddr], v6: bool) -> Option<usize> {
    locals
        .iter()
        .filter(|l| l.addr.is_ipv6() == v6)
        .find_map(|l| members.iter().position(|m| m.addr == l.addr))
}

fn fuzzy_match(members: &[Member], locals: &[LocalAddr], v6: bool) -> Option<usize> {
    let mut best: Option<usize> = None;
    let mut best_bits: u32 = 0;
    for local in locals.iter().filter(|l| l.addr.is_ipv6() == v6) {
        let prefix = u32::from(local.prefix_len);
        if prefix <= best_bits {
            continue;
        }
        let local_bytes = addr_bytes(&local.addr);
        let whole = (prefix / 8) as usize;
        let rest = prefix % 8;
        for (index, member) in members.iter().enumerate() {
            if member.addr.is_ipv6() != v6 {
                continue;
            }
            let member_bytes = addr_bytes(&member.addr);
            let equal = local_bytes
                .iter()
                .zip(&member_bytes)
                .take_while(|(a, b)| a == b)
                .count();
            if equal < whole || (equal as u32) * 8 < best_bits {
                continue;
            }
            if rest != 0 {
                // A prefix of 32 or 128 has rest 0, so `whole` indexes a byte.
                let mask = 0xffu8 << (8 - rest);
                if (local_bytes[whole] ^ member_bytes[whole]) & mask != 0 {
                    continue;
                }
            }
            best = Some(index);
            best_bits = prefix;
        }
    }
    best
}

fn addr_bytes(addr: &IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// [`match_local`] over this host's addresses and the configured members.
pub fn find_local(config: &Config, fuzzy: bool) -> io::Result<Option<(usize, bool)>> {
    Ok(match_local(&config.members, &local_addrs()?, fuzzy))
}

/// `-s ADDR` given to the daemon: the member whose address string is
/// exactly `addr` (site or arbitrator), as its position in
/// `config.members`.
pub fn find_by_addr_string(config: &Config, addr: &str) -> Result<usize, UnknownMember> {
    config
        .members
        .iter()
        .position(|m| m.addr_string == addr)
        .ok_or_else(|| UnknownMember(addr.to_owned()))
}

/// `-s` named an address that no `site`/`arbitrator` line has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMember(pub String);

impl fmt::Display for UnknownMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cannot find \"{}\" in the configuration.", self.0)
    }
}

impl std::error::Error for UnknownMember {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{site_id, MemberKind, DEFAULT_PORT};

    fn members(addrs: &[&str]) -> Vec<Member> {
        addrs
            .iter()
            .enumerate()
            .map(|(index, s)| {
                let addr: IpAddr = s.parse().unwrap();
                Member {
                    index,
                    kind: MemberKind::Site,
                    addr_string: s.to_string(),
                    addr,
                    port: DEFAULT_PORT,
                    site_id: site_id(&addr),
                }
            })
            .collect()
    }

    fn local(s: &str) -> LocalAddr {
        let (addr, prefix) = s.split_once('/').unwrap();
        LocalAddr::new(addr.parse().unwrap(), prefix.parse().unwrap())
    }

    fn locals(list: &[&str]) -> Vec<LocalAddr> {
        list.iter().map(|s| local(s)).collect()
    }

    fn find(m: &[&str], l: &[&str], fuzzy: bool) -> Option<(usize, bool)> {
        match_local(&members(m), &locals(l), fuzzy)
    }

    #[test]
    fn ipv4_exact_match_with_and_without_fuzzy() {
        let m = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];
        let l = ["127.0.0.1/8", "198.51.100.2/24"];
        assert_eq!(find(&m, &l, false), Some((1, true)));
        assert_eq!(find(&m, &l, true), Some((1, true)));
    }

    #[test]
    fn ipv4_subnet_match_only_when_fuzzy() {
        let m = ["198.51.100.1", "203.0.113.1"];
        let l = ["127.0.0.1/8", "203.0.113.77/24"];
        assert_eq!(find(&m, &l, false), None);
        assert_eq!(find(&m, &l, true), Some((1, false)));
    }

    #[test]
    fn no_match_at_all() {
        let m = ["198.51.100.77", "2001:db8::77"];
        let l = [
            "127.0.0.1/8",
            "::1/128",
            "203.0.113.5/24",
            "2001:db8:1::5/64",
        ];
        assert_eq!(find(&m, &l, false), None);
        assert_eq!(find(&m, &l, true), None);
        assert_eq!(find(&m, &[], true), None);
        assert_eq!(find(&[], &l, true), None);
    }

    #[test]
    fn prefix_25_checks_the_partial_byte() {
        // 198.51.100.0/25 covers .0–.127.
        let l = ["198.51.100.10/25"];
        assert_eq!(find(&["198.51.100.100"], &l, true), Some((0, false)));
        assert_eq!(find(&["198.51.100.200"], &l, true), None);
        let l = ["198.51.100.200/25"];
        assert_eq!(find(&["198.51.100.129"], &l, true), Some((0, false)));
        assert_eq!(find(&["198.51.100.1"], &l, true), None);
    }

    #[test]
    fn odd_prefixes_in_the_middle_of_a_byte() {
        // /20: 10.1.16.0–10.1.31.255.
        let l = ["10.1.20.1/20"];
        assert_eq!(find(&["10.1.31.9"], &l, true), Some((0, false)));
        assert_eq!(find(&["10.1.32.9"], &l, true), None);
        // /1: everything below 128.0.0.0.
        let l = ["10.0.0.1/1"];
        assert_eq!(find(&["127.1.2.3"], &l, true), Some((0, false)));
        assert_eq!(find(&["128.1.2.3"], &l, true), None);
    }

    #[test]
    fn prefix_zero_and_host_prefix_never_match_fuzzily() {
        assert_eq!(find(&["198.51.100.9"], &["10.0.0.1/0"], true), None);
        assert_eq!(find(&["198.51.100.9"], &["198.51.100.8/32"], true), None);
        assert_eq!(
            find(&["198.51.100.8"], &["198.51.100.8/32"], false),
            Some((0, true))
        );
    }

    #[test]
    fn ipv6_exact_and_64_bit_subnet() {
        let m = ["2001:db8::1", "2001:db8:0:1::1"];
        assert_eq!(find(&m, &["2001:db8::1/64"], false), Some((0, true)));
        assert_eq!(find(&m, &["2001:db8:0:1::99/64"], false), None);
        assert_eq!(find(&m, &["2001:db8:0:1::99/64"], true), Some((1, false)));
        assert_eq!(find(&m, &["2001:db8:0:2::99/64"], true), None);
        // A /63 covers both …:0::/64 and …:1::/64. Once the first member
        // set the best prefix to 63, the second shares only 7 whole bytes
        // (56 bits < 63) and cannot replace it (C's rule).
        assert_eq!(find(&m, &["2001:db8::99/63"], true), Some((0, false)));
        // With a byte-aligned prefix the later member does replace it.
        assert_eq!(find(&m, &["2001:db8::99/48"], true), Some((1, false)));
    }

    #[test]
    fn ipv6_is_searched_before_ipv4() {
        let m = ["198.51.100.1", "2001:db8::1"];
        let l = ["198.51.100.1/24", "2001:db8::1/64"];
        assert_eq!(find(&m, &l, false), Some((1, true)));
        let m = ["198.51.100.1", "2001:db8::2"];
        let l = ["198.51.100.5/24", "2001:db8::5/64"];
        assert_eq!(find(&m, &l, true), Some((1, false)));
    }

    #[test]
    fn exact_beats_fuzzy_whatever_the_interface_order() {
        let m = ["198.51.100.1", "203.0.113.1"];
        // Fuzzy candidate (long prefix) listed first, exact one (short
        // prefix) later: C would miss the exact match (bug 39).
        let l = ["198.51.100.9/25", "203.0.113.1/8"];
        assert_eq!(find(&m, &l, true), Some((1, true)));
        // And the other way round.
        let l = ["203.0.113.1/8", "198.51.100.9/25"];
        assert_eq!(find(&m, &l, true), Some((1, true)));
        // Same prefix lengths.
        let l = ["198.51.100.9/24", "203.0.113.1/24"];
        assert_eq!(find(&m, &l, true), Some((1, true)));
    }

    #[test]
    fn ipv4_exact_beats_ipv6_fuzzy() {
        let m = ["2001:db8::1", "198.51.100.1"];
        let l = ["2001:db8::9/64", "198.51.100.1/24"];
        assert_eq!(find(&m, &l, true), Some((1, true)));
    }

    #[test]
    fn longer_prefix_wins_and_ties_keep_the_first_address() {
        let m = ["198.51.100.1", "198.51.101.1"];
        // 198.51.0.0/16 covers both members; the /24 is more specific.
        let l = ["198.51.100.9/16", "198.51.101.9/24"];
        assert_eq!(find(&m, &l, true), Some((1, false)));
        let l = ["198.51.101.9/24", "198.51.100.9/16"];
        assert_eq!(find(&m, &l, true), Some((1, false)));
        // Two /24 addresses, one per member: the first address decides.
        let l = ["198.51.101.9/24", "198.51.100.9/24"];
        assert_eq!(find(&m, &l, true), Some((1, false)));
        let l = ["198.51.100.9/24", "198.51.101.9/24"];
        assert_eq!(find(&m, &l, true), Some((0, false)));
    }

    #[test]
    fn same_subnet_members_last_one_wins() {
        let m = ["198.51.100.1", "198.51.100.2", "203.0.113.1"];
        assert_eq!(find(&m, &["198.51.100.9/24"], true), Some((1, false)));
    }

    #[test]
    fn loopback_with_several_daemons_on_one_host() {
        let m = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
        let l = ["127.0.0.1/8", "::1/128"];
        assert_eq!(find(&m, &l, false), Some((0, true)));
        let m = ["127.0.0.2", "127.0.0.3"];
        assert_eq!(find(&m, &l, false), None);
        assert_eq!(find(&m, &l, true), Some((1, false)));
    }

    #[test]
    fn ipv4_mapped_ipv6_member_is_an_ipv6_member() {
        let m = ["::ffff:127.0.0.1"];
        assert_eq!(find(&m, &["127.0.0.1/8"], true), None);
        assert_eq!(find(&m, &["::1/128"], true), None);
        assert_eq!(find(&m, &["::ffff:127.0.0.1/128"], false), Some((0, true)));
        // Only bytes count, so a mapped address is in ::ffff:0:0/96.
        assert_eq!(find(&m, &["::ffff:10.0.0.1/96"], true), Some((0, false)));
    }

    #[test]
    fn getifaddrs_reports_loopback_with_its_prefix() {
        let addrs = local_addrs().expect("getifaddrs works");
        let lo = LocalAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8);
        assert!(addrs.contains(&lo), "{addrs:?}");
        for a in &addrs {
            let max = if a.addr.is_ipv4() { 32 } else { 128 };
            assert!(a.prefix_len <= max, "{a:?}");
        }
    }

    #[test]
    fn addr_string_lookup_is_exact() {
        let mut config = crate::config::Config::parse_str(
            "site = 127.0.0.1\nsite = 127.0.0.2\narbitrator = 127.0.0.3\n",
            std::path::Path::new("/etc/booth/booth.conf"),
            &crate::config::SystemResolver,
        )
        .unwrap();
        assert_eq!(find_by_addr_string(&config, "127.0.0.3"), Ok(2));
        let err = find_by_addr_string(&config, "127.0.0.03").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Cannot find \"127.0.0.03\" in the configuration."
        );
        config.members.clear();
        assert!(find_by_addr_string(&config, "127.0.0.1").is_err());
    }
}
