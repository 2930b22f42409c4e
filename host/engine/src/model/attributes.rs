//! [`Attributes`]: a map from attribute name to value with `BTreeMap`'s interface, stored as
//! one vector of pairs sorted by name.
//!
//! People have one or two dozen attributes. For that size a sorted vector finds a name in
//! fewer comparisons than a `BTreeMap` (whose nodes are searched linearly, eleven pairs each),
//! is one allocation instead of one per node (a leaf holds room for eleven pairs, about half a
//! kilobyte, even for two attributes), and copies in one allocation. The planner builds,
//! copies and diffs several of these per person, so this is where much of its time went.

use std::fmt;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::shared::head;
use super::{Key, Value};

/// Attributes by name: source attribute names, or SCIM paths for target attributes. Iterates
/// in name order, like the `BTreeMap` it replaces.
///
/// A map is either owned (while it is built or changed) or shared ([`Attributes::share`]): a
/// create's target and the record after it are the same dozen pairs, so the plan keeps them
/// once (a few hundred bytes per create) and a copy is a reference count. Changing a shared
/// map copies it first.
pub struct Attributes(Repr);

enum Repr {
    Owned(Vec<(Key, Value)>),
    Shared(Arc<[(Key, Value)]>),
}

impl Default for Attributes {
    fn default() -> Attributes {
        Attributes::new()
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Attributes) -> bool {
        self.pairs() == other.pairs()
    }
}

/// Iterator over `(&name, &value)` in name order.
pub type Iter<'a> = std::iter::Map<
    std::slice::Iter<'a, (Key, Value)>,
    fn(&'a (Key, Value)) -> (&'a Key, &'a Value),
>;

fn pair(entry: &(Key, Value)) -> (&Key, &Value) {
    (&entry.0, &entry.1)
}

impl Attributes {
    pub fn new() -> Attributes {
        Attributes(Repr::Owned(Vec::new()))
    }

    /// Room for `n` attributes without reallocating.
    pub fn with_capacity(n: usize) -> Attributes {
        Attributes(Repr::Owned(Vec::with_capacity(n)))
    }

    /// A copy that shares this map's pairs, which become shared too (moved once into one
    /// allocation of their exact size): for maps the plan keeps twice.
    pub fn share(&mut self) -> Attributes {
        if let Repr::Owned(pairs) = &mut self.0 {
            self.0 = Repr::Shared(Arc::from(std::mem::take(pairs)));
        }
        self.clone()
    }

    #[inline]
    fn pairs(&self) -> &[(Key, Value)] {
        match &self.0 {
            Repr::Owned(pairs) => pairs,
            Repr::Shared(pairs) => pairs,
        }
    }

    /// The pairs to change, copied first when they are shared.
    fn pairs_mut(&mut self) -> &mut Vec<(Key, Value)> {
        if let Repr::Shared(pairs) = &self.0 {
            self.0 = Repr::Owned(pairs.to_vec());
        }
        match &mut self.0 {
            Repr::Owned(pairs) => pairs,
            Repr::Shared(_) => unreachable!("made owned above"),
        }
    }

    #[inline]
    fn find(&self, name: &str) -> Result<usize, usize> {
        let name_head = head(name);
        self.pairs()
            .binary_search_by(|(k, _)| k.cmp_str(name_head, name))
    }

    pub fn len(&self) -> usize {
        self.pairs().len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.find(name).ok().map(|i| &self.pairs()[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.find(name).ok().map(|i| &mut self.pairs_mut()[i].1)
    }

    pub fn get_key_value(&self, name: &str) -> Option<(&Key, &Value)> {
        self.find(name).ok().map(|i| pair(&self.pairs()[i]))
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets `name` to `value`; returns the value it replaces. As with `BTreeMap`, a name already
    /// present keeps its key.
    pub fn insert(&mut self, name: Key, value: Value) -> Option<Value> {
        // Maps are mostly built in name order (mappings sorted by target, copies): append.
        let pairs = self.pairs_mut();
        if pairs.last().is_none_or(|(last, _)| *last < name) {
            pairs.push((name, value));
            return None;
        }
        let name_head = head(&name);
        match pairs.binary_search_by(|(k, _)| k.cmp_str(name_head, &name)) {
            Ok(i) => Some(std::mem::replace(&mut pairs[i].1, value)),
            Err(i) => {
                pairs.insert(i, (name, value));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.find(name).ok().map(|i| self.pairs_mut().remove(i).1)
    }

    pub fn clear(&mut self) {
        self.pairs_mut().clear()
    }

    /// Keeps the attributes for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Key, &mut Value) -> bool) {
        self.pairs_mut().retain_mut(|(k, v)| keep(k, v))
    }

    pub fn iter(&self) -> Iter<'_> {
        self.pairs().iter().map(pair)
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator {
        self.pairs().iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.pairs().iter().map(|(_, v)| v)
    }

    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.pairs_mut().iter_mut().map(|(_, v)| v)
    }

    /// Sorts pairs given in any order; of pairs with the same name the last one wins, as with
    /// inserting them one by one.
    fn from_pairs(mut pairs: Vec<(Key, Value)>) -> Attributes {
        let sorted = pairs.windows(2).all(|w| w[0].0 < w[1].0);
        if !sorted {
            sort_last_wins(&mut pairs);
        }
        Attributes(Repr::Owned(pairs))
    }
}

impl Clone for Attributes {
    /// Copies an owned map; shares a shared one.
    fn clone(&self) -> Self {
        Attributes(match &self.0 {
            Repr::Owned(pairs) => Repr::Owned(pairs.clone()),
            Repr::Shared(pairs) => Repr::Shared(Arc::clone(pairs)),
        })
    }

    /// Reuses the vector (and, through `Vec::clone_from`, each slot) when both are owned.
    fn clone_from(&mut self, source: &Self) {
        match (&mut self.0, &source.0) {
            (Repr::Owned(pairs), Repr::Owned(from)) => pairs.clone_from(from),
            _ => *self = source.clone(),
        }
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl std::ops::Index<&str> for Attributes {
    type Output = Value;

    /// Panics when `name` is absent, like `BTreeMap`'s.
    fn index(&self, name: &str) -> &Value {
        match self.get(name) {
            Some(v) => v,
            None => panic!("no attribute {name:?}"),
        }
    }
}

impl FromIterator<(Key, Value)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (Key, Value)>>(iter: I) -> Attributes {
        Attributes::from_pairs(iter.into_iter().collect())
    }
}

impl<const N: usize> From<[(Key, Value); N]> for Attributes {
    fn from(pairs: [(Key, Value); N]) -> Attributes {
        Attributes::from_pairs(Vec::from(pairs))
    }
}

impl Extend<(Key, Value)> for Attributes {
    fn extend<I: IntoIterator<Item = (Key, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl IntoIterator for Attributes {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        match self.0 {
            Repr::Owned(pairs) => pairs.into_iter(),
            Repr::Shared(pairs) => Vec::from(&pairs[..]).into_iter(),
        }
    }
}

impl<'a> IntoIterator for &'a Attributes {
    type Item = (&'a Key, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Attributes, D::Error> {
        struct Pairs;

        impl<'de> Visitor<'de> for Pairs {
            type Value = Attributes;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of attribute names to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
                while let Some(pair) = map.next_entry::<Key, Value>()? {
                    pairs.push(pair);
                }
                Ok(Attributes::from_pairs(pairs))
            }
        }

        d.deserialize_map(Pairs)
    }
}

/// Sorts pairs by key and keeps, of equal keys, the pair given last (as inserting them one by
/// one into a map would).
pub(crate) fn sort_last_wins<K: Ord, V>(pairs: &mut Vec<(K, V)>) {
    // Stable: equal keys stay in their given order, so the last one is kept below.
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs.dedup_by(|later, kept| {
        let same = later.0 == kept.0;
        if same {
            std::mem::swap(later, kept);
        }
        same
    });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn key() -> impl Strategy<Value = Key> {
        "[a-d]{1,2}".prop_map(Key::from)
    }

    fn value() -> impl Strategy<Value = Value> {
        (0i64..4).prop_map(Value::Int)
    }

    /// An operation on both maps.
    #[derive(Debug, Clone)]
    enum Op {
        Insert(Key, Value),
        Remove(Key),
        RetainEven,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (key(), value()).prop_map(|(k, v)| Op::Insert(k, v)),
            key().prop_map(Op::Remove),
            Just(Op::RetainEven),
        ]
    }

    proptest! {
        /// Behaves as the `BTreeMap` it replaces: same results, same iteration order, same
        /// JSON.
        #[test]
        fn same_as_a_btree_map(
            pairs in proptest::collection::vec((key(), value()), 0..12),
            ops in proptest::collection::vec(op(), 0..12),
        ) {
            let mut ours: Attributes = pairs.iter().cloned().collect();
            let mut reference: BTreeMap<Key, Value> = pairs.into_iter().collect();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        prop_assert_eq!(ours.insert(k.clone(), v.clone()), reference.insert(k, v))
                    }
                    Op::Remove(k) => prop_assert_eq!(ours.remove(&k), reference.remove(&k)),
                    Op::RetainEven => {
                        let even = |v: &Value| matches!(v, Value::Int(i) if i % 2 == 0);
                        ours.retain(|_, v| even(v));
                        reference.retain(|_, v| even(v));
                    }
                }
                prop_assert!(ours.iter().eq(reference.iter()));
            }
            for k in ["a", "b", "ab", "zz"] {
                prop_assert_eq!(ours.get(k), reference.get(k));
            }
            let json = serde_json::to_string(&ours).expect("json");
            prop_assert_eq!(&json, &serde_json::to_string(&reference).expect("json"));
            let back: Attributes = serde_json::from_str(&json).expect("parse");
            prop_assert_eq!(back, ours);
        }
    }

    #[test]
    fn later_pairs_win() {
        let a = Attributes::from([
            (Key::from("b"), Value::Int(1)),
            (Key::from("a"), Value::Int(2)),
            (Key::from("b"), Value::Int(3)),
        ]);
        assert_eq!(format!("{a:?}"), r#"{"a": Int(2), "b": Int(3)}"#);
        let parsed: Attributes = serde_json::from_str(r#"{"b": 1, "a": 2, "b": 3}"#).expect("json");
        assert_eq!(parsed, a);
    }
}
