//! A map from ticket names to values, kept as a vector sorted by name.
//!
//! The CIB writer and the promise record keep an entry per configured
//! ticket, by the name the configuration shares (`Arc<str>`). A hash map
//! holds its load under 7/8: with 1,000 tickets it has 2,048 buckets, the
//! writer's table took 84 kB and the promise record's 51 kB where the
//! entries are 40 and 24 kB. Here an entry costs its own size, and a
//! lookup is a binary search of the names (about 10 comparisons at 1,000
//! tickets, 14 at 10,000).
//!
//! Inserting and removing move the entries after the place (a memmove):
//! 10,000 names inserted in configuration order (tk1, tk2, ...) move
//! about 180 MB in all; the static build of a site of 10,000 tickets
//! answered `booth list` 0.13-0.22 s after its start instead of 0.04 s.
//! So both owners insert the names a start gives them in name order,
//! where each goes on the end (`Core::start`, `PromiseFile::record`):
//! 0.04-0.06 s again. Later insertions are a reload's few.

use std::sync::Arc;

pub struct NameMap<V> {
    entries: Vec<(Arc<str>, V)>,
}

impl<V> Default for NameMap<V> {
    fn default() -> Self {
        NameMap::new()
    }
}

impl<V> NameMap<V> {
    pub const fn new() -> NameMap<V> {
        NameMap {
            entries: Vec::new(),
        }
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| (**k).cmp(name))
    }

    /// Room for `more` entries besides those there are, in one step: a
    /// start that inserts every name reserves once rather than growing the
    /// vector a dozen times (each growth leaves the old block behind).
    pub fn reserve(&mut self, more: usize) {
        self.entries.reserve_exact(more);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&V> {
        self.find(name).ok().map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut V> {
        self.find(name).ok().map(|i| &mut self.entries[i].1)
    }

    pub fn get_key_value(&self, name: &str) -> Option<(&Arc<str>, &V)> {
        self.find(name).ok().map(|i| {
            let (k, v) = &self.entries[i];
            (k, v)
        })
    }

    /// The value of `name`, made by `make` if there is none.
    pub fn get_or_insert_with(&mut self, name: Arc<str>, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&name) {
            Ok(i) => i,
            Err(i) => {
                self.insert_at(i, name, make());
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Sets the value of `name`; returns the one it replaces. The key kept
    /// is the one given.
    pub fn insert(&mut self, name: Arc<str>, value: V) -> Option<V> {
        match self.find(&name) {
            Ok(i) => {
                let old = std::mem::replace(&mut self.entries[i], (name, value));
                Some(old.1)
            }
            Err(i) => {
                self.insert_at(i, name, value);
                None
            }
        }
    }

    fn insert_at(&mut self, i: usize, name: Arc<str>, value: V) {
        // Grown by halves rather than doubled: the map is sized by the
        // configuration, and the slack of a doubling is never used.
        if self.entries.len() == self.entries.capacity() {
            let more = (self.entries.len() / 2).max(4);
            self.entries.reserve_exact(more);
        }
        self.entries.insert(i, (name, value));
    }

    pub fn remove(&mut self, name: &str) -> Option<V> {
        let i = self.find(name).ok()?;
        let (_, v) = self.entries.remove(i);
        // Given back once most of it is unused (a reload that removed
        // most tickets).
        if self.entries.capacity() > 2 * self.entries.len() + 4 {
            self.entries
                .shrink_to(self.entries.len() + self.entries.len() / 2);
        }
        Some(v)
    }

    pub fn clear(&mut self) {
        self.entries = Vec::new();
    }

    /// The names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<str>> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_as_an_ordered_map() {
        // Against BTreeMap, under a fixed pseudo-random mix of operations.
        let mut ours: NameMap<u32> = NameMap::new();
        let mut model: BTreeMap<String, u32> = BTreeMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let name = format!("tk{}", x % 300);
            match x % 5 {
                0 | 1 => assert_eq!(
                    ours.insert(name.as_str().into(), step),
                    model.insert(name, step)
                ),
                2 => assert_eq!(ours.remove(&name), model.remove(&name)),
                3 => {
                    let v = ours.get_or_insert_with(name.as_str().into(), || step);
                    *v += 1;
                    *model.entry(name).or_insert(step) += 1;
                }
                _ => {
                    assert_eq!(ours.get(&name), model.get(&name));
                    if let Some(v) = ours.get_mut(&name) {
                        *v ^= 1;
                        *model.get_mut(&name).unwrap() ^= 1;
                    }
                }
            }
            assert_eq!(ours.len(), model.len());
        }
        let keys: Vec<&str> = ours.keys().map(|k| &**k).collect();
        assert_eq!(keys, model.keys().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            ours.values().copied().collect::<Vec<_>>(),
            model.values().copied().collect::<Vec<_>>()
        );
        ours.clear();
        assert!(ours.is_empty() && ours.get("tk1").is_none());
    }

    #[test]
    fn keeps_the_key_given_and_costs_its_entries() {
        let mut m: NameMap<u64> = NameMap::new();
        let first: Arc<str> = "a".into();
        m.insert(first.clone(), 1);
        let second: Arc<str> = "a".into();
        assert_eq!(m.insert(second.clone(), 2), Some(1));
        assert!(Arc::ptr_eq(m.get_key_value("a").unwrap().0, &second));
        for i in 0..1024 {
            m.insert(format!("tk{i}").into(), i);
        }
        // 1,025 entries: grown by halves, at most half again as many slots
        // (a doubling vector would have 2,048, a hash map 2,048 buckets).
        let (len, cap) = (m.len(), m.entries.capacity());
        assert!(cap <= len * 3 / 2 + 4, "{cap} for {len}");
        for i in 0..1014 {
            m.remove(&format!("tk{i}"));
        }
        assert!(m.entries.capacity() < 40, "{}", m.entries.capacity());
    }
}
