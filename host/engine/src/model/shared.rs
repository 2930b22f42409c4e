//! [`SharedStr`]: the string type of attribute names and text values.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string whose clones share one allocation: attribute names and text values.
/// Every person of a cycle has the same few dozen attribute names, and the plan holds each
/// create's attributes several times (the create, the record after it, the log's modified
/// properties), so copying an attribute is a reference count, not an allocation and a copy
/// of its bytes.
///
/// It also keeps its first eight bytes as a big-endian integer beside the pointer: attribute
/// names mostly differ there, so sorting and searching them compare integers without reading
/// the strings (or calling `memcmp`, which costs more than the comparison for names this
/// short). Compares, hashes and serializes as the string.
#[derive(Clone)]
pub struct SharedStr {
    head: u64,
    text: Arc<str>,
}

/// The first eight bytes of `s`, zero-padded, as a big-endian integer: when two heads differ,
/// they order as the strings do (a zero pad sorts before any byte, as a prefix does; a name
/// with a NUL byte ties and falls through to the full comparison).
pub(crate) fn head(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut buf = [0u8; 8];
    match bytes.first_chunk::<8>() {
        Some(first) => buf = *first,
        None => buf.iter_mut().zip(bytes).for_each(|(d, b)| *d = *b),
    }
    u64::from_be_bytes(buf)
}

impl SharedStr {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Compares with `s` whose [`head`] is `s_head`, as `self.as_str().cmp(s)` would.
    pub(crate) fn cmp_str(&self, s_head: u64, s: &str) -> Ordering {
        self.head
            .cmp(&s_head)
            .then_with(|| self.text.as_bytes().cmp(s.as_bytes()))
    }
}

impl PartialEq for SharedStr {
    fn eq(&self, other: &SharedStr) -> bool {
        self.head == other.head && self.text == other.text
    }
}

impl Eq for SharedStr {}

impl PartialOrd for SharedStr {
    fn partial_cmp(&self, other: &SharedStr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SharedStr {
    fn cmp(&self, other: &SharedStr) -> Ordering {
        self.cmp_str(other.head, &other.text)
    }
}

impl Hash for SharedStr {
    /// As the `str` (for `Borrow<str>`).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl Deref for SharedStr {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl From<Arc<str>> for SharedStr {
    fn from(text: Arc<str>) -> SharedStr {
        SharedStr {
            head: head(&text),
            text,
        }
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> SharedStr {
        SharedStr::from(Arc::<str>::from(s))
    }
}

impl From<String> for SharedStr {
    fn from(s: String) -> SharedStr {
        SharedStr::from(Arc::<str>::from(s))
    }
}

impl From<&String> for SharedStr {
    fn from(s: &String) -> SharedStr {
        SharedStr::from(s.as_str())
    }
}

impl From<SharedStr> for String {
    fn from(s: SharedStr) -> String {
        s.text.to_string()
    }
}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SharedStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SharedStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SharedStr, D::Error> {
        // Borrowed where the format allows it: one allocation, for the `Arc`.
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(SharedStr::from(&*s))
    }
}

/// A text value: a [`SharedStr`] without the eight-byte head, which only names (searched and
/// sorted) need. Sixteen bytes, so a [`Value`](super::Value) is 24 instead of 32, and the
/// plan keeps a dozen values per create several times over (its target, its modified
/// properties). Compares, hashes and serializes as the string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SharedText(Arc<str>);

impl SharedText {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for SharedText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SharedText {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SharedText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Arc<str>> for SharedText {
    fn from(text: Arc<str>) -> SharedText {
        SharedText(text)
    }
}

impl From<&str> for SharedText {
    fn from(s: &str) -> SharedText {
        SharedText(Arc::from(s))
    }
}

impl From<String> for SharedText {
    fn from(s: String) -> SharedText {
        SharedText(Arc::from(s))
    }
}

impl From<&String> for SharedText {
    fn from(s: &String) -> SharedText {
        SharedText::from(s.as_str())
    }
}

/// Shares the name's string.
impl From<SharedStr> for SharedText {
    fn from(s: SharedStr) -> SharedText {
        SharedText(s.text)
    }
}

/// Shares the name's string.
impl From<&SharedStr> for SharedText {
    fn from(s: &SharedStr) -> SharedText {
        SharedText(Arc::clone(&s.text))
    }
}

/// Shares the value's string.
impl From<SharedText> for SharedStr {
    fn from(s: SharedText) -> SharedStr {
        SharedStr::from(s.0)
    }
}

impl From<SharedText> for String {
    fn from(s: SharedText) -> String {
        s.0.to_string()
    }
}

impl PartialEq<str> for SharedText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SharedText {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SharedText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SharedText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SharedText, D::Error> {
        // Borrowed where the format allows it: one allocation, for the `Arc`.
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(SharedText::from(&*s))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Orders as `str` does, around the eight-byte head too (NUL included).
        #[test]
        fn orders_as_str(a in "[ab\\x00\\u{e9}]{0,11}", b in "[ab\\x00\\u{e9}]{0,11}") {
            let (x, y) = (SharedStr::from(a.as_str()), SharedStr::from(b.as_str()));
            prop_assert_eq!(x.cmp(&y), a.cmp(&b));
            prop_assert_eq!(x.cmp_str(head(&b), &b), a.cmp(&b));
            prop_assert_eq!(x == y, a == b);
        }
    }
}
