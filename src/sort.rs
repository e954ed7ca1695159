//! One sort for the program's own vectors.
//!
//! Each call of the standard library's sort with another element type or
//! comparison makes another copy of its code (driftsort, about 4 kB), and
//! the static build locks all of its code in memory: the daemon's dozen
//! sorts were 50 kB of it. Here the standard sort is instantiated once,
//! on positions, and reaches the caller's comparison through a reference
//! to a closure; what is left per element type is the loop that moves the
//! elements into place. Every sort here is stable.

use std::cmp::Ordering;

/// Sorts positions (indices into something the comparison knows) by
/// `cmp`; equal ones by position, so a list that starts in order is
/// sorted stably.
pub fn positions(order: &mut [u32], cmp: &dyn Fn(usize, usize) -> Ordering) {
    order.sort_unstable_by(|&a, &b| cmp(a as usize, b as usize).then(a.cmp(&b)));
}

/// Sorts `v` by `cmp`, keeping equal elements in their order.
pub fn by<T>(v: &mut [T], cmp: impl Fn(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let n = u32::try_from(v.len()).expect("fewer than 2^32 elements");
    let mut order: Vec<u32> = (0..n).collect();
    positions(&mut order, &|a, b| cmp(&v[a], &v[b]));
    apply(v, &order);
}

/// Sorts `v` by `key`, keeping elements with equal keys in their order.
pub fn by_key<T, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    by(v, |a, b| key(a).cmp(&key(b)));
}

/// Sorts `v` (stably, as `slice::sort`).
pub fn sort<T: Ord>(v: &mut [T]) {
    by(v, T::cmp);
}

/// Puts the element at `order[k]` at position `k`, for every `k`, in place:
/// each cycle of the permutation is walked once, swapping as it goes.
fn apply<T>(v: &mut [T], order: &[u32]) {
    let mut done = vec![false; v.len()];
    for start in 0..v.len() {
        let mut j = start;
        while !done[j] {
            done[j] = true;
            let k = order[j] as usize;
            if k == start {
                break;
            }
            // Position j gets its element; the one it held (the cycle's
            // first) moves on to k, whose element is needed next.
            v.swap(j, k);
            j = k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (tests only).
    fn numbers(seed: u64, n: usize, range: u64) -> Vec<u64> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 33) % range
            })
            .collect()
    }

    #[test]
    fn sorts_as_the_standard_stable_sort() {
        for seed in 0..200 {
            let n = (seed as usize * 7) % 300;
            // Few distinct keys, so that stability shows: each element
            // carries its original position.
            let keys = numbers(seed, n, 1 + seed % 17);
            let mut ours: Vec<(u64, usize)> = keys.iter().copied().zip(0..).collect();
            let mut std = ours.clone();
            by_key(&mut ours, |e| e.0);
            std.sort_by_key(|e| e.0);
            assert_eq!(ours, std, "seed {seed}");
        }
    }

    #[test]
    fn sort_and_by_agree_with_the_standard_library() {
        let mut words: Vec<String> = numbers(9, 500, 50)
            .iter()
            .map(|n| format!("w{n}"))
            .collect();
        let mut std = words.clone();
        sort(&mut words);
        std.sort();
        assert_eq!(words, std);
        by(&mut words, |a, b| b.cmp(a));
        std.reverse();
        assert_eq!(words, std);
        let mut empty: Vec<u8> = Vec::new();
        sort(&mut empty);
        let mut one = vec![1];
        sort(&mut one);
        assert_eq!(one, [1]);
    }

    #[test]
    fn positions_sort_indices_by_what_they_stand_for() {
        let names = ["tk10", "tk2", "tk1", "tk2"];
        let mut order: Vec<u32> = (0..names.len() as u32).collect();
        positions(&mut order, &|a, b| names[a].cmp(names[b]));
        assert_eq!(order, [2, 0, 1, 3]);
    }
}
