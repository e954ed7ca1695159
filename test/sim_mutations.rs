//! The simulator must find real bugs: each deliberately broken engine
//! variant (`booth::engine::Mutation`, feature `mutations`) is caught by an
//! invariant within a bounded number of seeds. A checker that stays silent
//! on a broken engine would prove nothing about the real one.
//!
//! Run with `cargo test --features mutations --test sim_mutations`
//! (`make check` does); `-- --nocapture` shows how many seeds each needed.

use booth::engine::Mutation;
use booth::sim::{run_seed, Kind, Options};

/// Runs seeds 1, 2, ... with `m` until one breaks one of the `expected`
/// invariants; returns the seed and the violation. Fails if `max_seeds` are
/// not enough.
fn first_catch(m: Mutation, expected: &[Kind], max_seeds: u64) -> (u64, String) {
    let opts = Options {
        mutation: Some(m),
        ..Options::default()
    };
    for seed in 1..=max_seeds {
        let r = run_seed(seed, &opts);
        // A broken engine may break other invariants too (a double vote
        // may first show as a slow failover); what matters is that the
        // invariant it is about catches it. The real engine breaks none on
        // these seeds (`make check` runs them).
        if let Some(v) = r
            .violations
            .iter()
            .find(|v| v.known.is_none() && expected.contains(&v.kind))
        {
            eprintln!(
                "{}: caught by seed {seed} (make sim SEED={seed} MUTATION={}): {v}",
                m.name(),
                m.name()
            );
            return (seed, v.to_string());
        }
    }
    panic!("{}: not caught in {max_seeds} seeds", m.name());
}

/// Runs `seeds` in order with `m` until one ends in a dual grant that the
/// real engine does not produce on the same seed (a dual grant the real
/// engine has too says nothing about the rule `m` breaks); returns that
/// seed. Fails if none does. `classic`: only the fault
/// kinds from before issue #17, under which the real engine has shown no
/// dual grant, so that a catch there is the rule's alone.
fn first_dual_grant(m: Mutation, classic: bool, seeds: std::ops::RangeInclusive<u64>) -> u64 {
    let real = Options {
        classic_faults: classic,
        ..Options::default()
    };
    let broken = Options {
        mutation: Some(m),
        ..real.clone()
    };
    let dual = |r: &booth::sim::SeedReport| {
        r.violations
            .iter()
            .find(|v| v.known.is_none() && v.kind == Kind::DualGrant)
            .map(|v| v.to_string())
    };
    for seed in seeds.clone() {
        let Some(v) = dual(&run_seed(seed, &broken)) else {
            continue;
        };
        if dual(&run_seed(seed, &real)).is_some() {
            continue;
        }
        eprintln!(
            "{}: dual grant with seed {seed} (make sim SEED={seed} MUTATION={}{}): {v}",
            m.name(),
            m.name(),
            if classic { " FAULTS=classic" } else { "" }
        );
        return seed;
    }
    panic!("{}: no dual grant in seeds {seeds:?}", m.name());
}

// One safety rule of ours each (issue #17): broken, it must show as two
// sites holding the ticket, not only in a checker written for the rule.

#[test]
fn ignoring_claims_is_caught_as_a_dual_grant() {
    // Since the simulator runs the real CIB writer the first catch was seed
    // 351 (`make sim MUTATION=ignore-claims FAULTS=classic SEEDS=1000`: 83
    // dual grants in 48 seeds; the real engine: none); since a claimant's
    // revoke withdraws its claim everywhere, 160 (14 dual grants in seeds
    // 1-1000, then 211, 469, ...); the seeds before it take a minute in a
    // debug build.
    first_dual_grant(Mutation::IgnoreClaims, true, 155..=215);
}

#[test]
fn no_start_up_fence_is_caught_as_a_dual_grant() {
    first_dual_grant(Mutation::NoStartupFence, true, 1..=250);
}

#[test]
fn no_release_hold_is_caught_as_a_dual_grant() {
    // Since members acknowledge a claimant's revoke the first catch is
    // seed 54 (`make sim MUTATION=no-release-hold FAULTS=classic
    // SEEDS=400`: 27 dual grants, then 89, 112, 124, ...).
    first_dual_grant(Mutation::NoReleaseHold, true, 50..=60);
}

// The next three need the time faults (restarts of a holder, stale
// deliveries), under which the engine of issue #17 has dual grants of its
// own: the seeds those hit are skipped, but a broken rule can also lead a
// run into one of them; re-check on the fixed engine.

#[test]
#[ignore = "not found within 100 seeds since the promise record: after a daemon restart the recorded lease takes the claim's place, so the rule matters only after a host reboot within a second of the lease's end; cargo test --features mutations --test sim_mutations -- --ignored"]
fn no_restart_claim_is_caught_as_a_dual_grant() {
    first_dual_grant(Mutation::NoRestartClaim, false, 1..=2000);
}

#[test]
#[ignore = "slow in a debug build (about 1000 seeds); cargo test --features mutations --test sim_mutations -- --ignored"]
fn hand_overs_of_any_term_are_caught_as_a_dual_grant() {
    // The hook belongs in the term filter of the step-down and revoke
    // paths, which issue #17's fix adds; until then the broken engine is
    // the real one and nothing is caught. With such a filter (tried out,
    // not committed) the real engine had no step-down dual grant in 2500
    // seeds and this variant had them at seeds 999, 1216, 1961, 2110, 2181.
    first_dual_grant(Mutation::ReleaseOfAnyTerm, false, 1..=1200);
}

#[test]
#[ignore = "slow in a debug build (about 500 seeds); cargo test --features mutations --test sim_mutations -- --ignored"]
fn acks_of_any_term_are_caught_as_a_dual_grant() {
    first_dual_grant(Mutation::AcksOfAnyTerm, false, 1..=600);
}

#[test]
fn a_leader_that_keeps_its_expired_ticket_is_caught() {
    let (seed, _) = first_catch(
        Mutation::LeaderKeepsExpiredTicket,
        &[
            Kind::GrantNotRevoked,
            Kind::ResumeNotRevokeFirst,
            Kind::DualGrant,
        ],
        20,
    );
    assert!(seed <= 20);
}

#[test]
fn a_member_that_votes_twice_in_a_term_is_caught() {
    first_catch(
        Mutation::DoubleVote,
        &[Kind::DualGrant, Kind::LeaseBeyondAcks, Kind::DoubleVote],
        200,
    );
}

#[test]
fn a_lease_counted_from_the_acks_arrival_is_caught() {
    first_catch(Mutation::LeaseFromAckArrival, &[Kind::LeaseBeyondAcks], 20);
}

#[test]
fn terms_going_backwards_are_caught() {
    first_catch(Mutation::TermRegression, &[Kind::TermBackwards], 50);
}

// Rules added for what the 10,000-seed run on the fixed engine found
// (doc/simulator.md): broken, the seed that found the hole fails again
// while the real engine passes it. (lead-newer-term, the rule for seed
// 745, is shown by engine::tests::leaders with ENGINE_MUTATION: the
// simulator's later runs no longer reach that shape at seed 745.)

#[test]
fn a_start_up_fence_forgotten_at_a_daemon_restart_is_caught_as_a_dual_grant() {
    // Seed 5328 (doc/simulator.md) found it: the arbitrator's host
    // rebooted, its daemon restarted while still fenced, and the next
    // daemon trusted the record the fenced one had written. Since the
    // simulator runs the real CIB writer that seed plays out otherwise,
    // and since removed tickets keep their promises (b2b33ac) seed 2024
    // does too (no violation with the variant on that commit either).
    // `make sim MUTATION=forget-fence SEEDS=10000` on the engine that
    // revokes unconfirmed grants: dual grants at 6694, 6749, 7468 and
    // 8690, none in seeds 1-3000, and the real engine passes all four.
    // 7468 is the shortest run: the hosts of m1 and m0 rebooted (both
    // fenced), and each daemon restarted from the record its fenced
    // predecessor wrote; m0 then voted for m1 at once, and m1 was granted
    // tk15 in term 7 while m2's grant of term 6 ran. Since a rebooted
    // holder tells its hold in its first state query: 2286 and 6670.
    // Since a silent member is asked again once per retry (and the
    // simulator's crash applies the writes that land with it), none of
    // seeds 1-10,000 ends in a dual grant with the variant (7438 in an
    // availability loss); of seeds 10,001-20,000, 13126, 14687 and 16813
    // do (votes cast before a restart counted).
    caught_on_one_of(
        Mutation::ForgetFence,
        &[Kind::DualGrant],
        &[2024, 6749, 7468, 2286, 6670, 13126, 14687, 16813],
    );
}

#[test]
#[ignore = "no seed of 1-30,000 reaches it since a ticket a reload adds starts from its CIB state; its unit test does (engine::tests::rules_out_of_the_simulators_reach_fail_their_unit_tests, run by make check)"]
fn promises_forgotten_by_a_reload_that_removes_a_ticket_are_caught_as_a_dual_grant() {
    // Seed 9972 (doc/simulator.md) found it: a reload removed a ticket
    // whose holder's CIB revoke kept failing, a later one added it back,
    // and every member had forgotten the lease it acknowledged. Since a
    // ticket a reload adds at a site starts from its CIB state (seed
    // 22948), the holder added back starts from the grant its CIB still
    // holds, kept only as far as a majority confirms it (its promise
    // forgotten, it fences as after a reboot): `make sim
    // MUTATION=forget-removed-promises` finds no dual grant in seeds
    // 1-30,000 (availability losses only).
    caught_on_one_of(Mutation::ForgetRemovedPromises, &[Kind::DualGrant], &[9972]);
}

#[test]
#[ignore = "no seed of 1-10,000 reaches it since a restarted holder says its hold is over; its unit test does (engine::tests::rules_out_of_the_simulators_reach_fail_their_unit_tests, run by make check)"]
fn a_release_hold_told_in_a_newer_term_is_caught_as_an_availability_loss() {
    // Seed 2074 found it: a restarted holder's hold, told in the term an
    // answer had just raised it to, was taken for that term's lease and
    // the real leader's heartbeats were refused until the hold ended.
    // Since a silent member is asked again once per retry: 1536. Since a
    // ticket a reload adds starts from its CIB state, none of seeds
    // 1-20,000; 29726 (`make sim MUTATION=hold-in-any-term FIRST_SEED=20001`).
    // Since a restarted holder announces the end of its hold with a revoke
    // (which withdraws its claim everywhere), a hold told in the wrong term
    // is withdrawn with it: none of seeds 1-10,000 (nor 29726).
    caught_on_one_of(
        Mutation::HoldInAnyTerm,
        &[Kind::Availability],
        &[2074, 1536, 29726],
    );
}

#[test]
fn an_unconfirmed_grant_kept_by_the_wall_clock_is_caught_as_a_dual_grant() {
    // Seed 8679 (doc/simulator.md) found it: a holder cut off from
    // everyone, its host rebooted with the wall clock 8 s behind, kept the
    // grant its CIB held by that clock's reading of `expires`, 8 s past
    // its lease, while the other sites elected a new holder. The real
    // engine revokes a grant loaded without a record that no majority
    // confirms once its state query's round is over.
    caught_on_one_of(Mutation::TrustUnconfirmedGrant, &[Kind::DualGrant], &[8679]);
}

#[test]
#[ignore = "no seed of 1-30,000 reaches it since state queries are resent once per retry; its unit test does (engine::tests::rules_out_of_the_simulators_reach_fail_their_unit_tests, run by make check)"]
fn a_start_up_query_sent_before_the_hold_is_caught_as_a_dual_grant() {
    // Seed 9890 found it: the holder's host rebooted with its clock
    // ahead, its first state query told no lease, and peers rebooted too
    // lifted their fence on it and elected another site.
    // Since a silent member is asked again once per retry, no seed of
    // 1-30,000 reaches it (the variant's one dual grant there, 22948, the
    // real engine has too: doc/simulator.md).
    caught_on_one_of(Mutation::QueryBeforeHold, &[Kind::DualGrant], &[9890]);
}

#[test]
fn a_stale_heartbeat_followed_is_caught_as_a_late_failover() {
    // Seed 1692 found it: a heartbeat held 17 minutes in the network, of
    // a term its leader had left, renewed a lease at a follower after the
    // leader's host was suspended; the failover came a lease late.
    // Since a silent member is asked again once per retry, none of seeds
    // 1-10,000 reaches it; 15646 does (a failover 479 s late, bound 319 s).
    caught_on_one_of(Mutation::StaleFollow, &[Kind::FailoverLate], &[1692, 15646]);
}

/// Like `first_catch`, on the first of `seeds` where the broken engine
/// breaks one of the `expected` invariants and the real engine breaks
/// none. Schedules move with every engine change, so a rule is pinned to
/// the seeds that found it or caught it since, newest last: a list that no
/// longer catches needs a new seed (`make sim MUTATION=name`), found and
/// added here, not the test dropped.
fn caught_on_one_of(m: Mutation, expected: &[Kind], seeds: &[u64]) {
    let broken = Options {
        mutation: Some(m),
        ..Options::default()
    };
    for &seed in seeds {
        let r = run_seed(seed, &broken);
        let Some(v) = r
            .violations
            .iter()
            .find(|v| v.known.is_none() && expected.contains(&v.kind))
        else {
            continue;
        };
        let real = run_seed(seed, &Options::default());
        if real.violations.iter().all(|v| v.known.is_some()) {
            eprintln!(
                "{}: caught by seed {seed} (make sim SEED={seed} MUTATION={}): {v}",
                m.name(),
                m.name()
            );
            return;
        }
    }
    panic!("{}: not caught by any of seeds {seeds:?}", m.name());
}
