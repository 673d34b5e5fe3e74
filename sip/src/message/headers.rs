//! An ordered header list with case-insensitive lookup. Values are stored one per list
//! element: `Via: a, b` is kept as two entries (RFC 3261 §7.3.1 says both forms are equal).

use super::header_name::HeaderName;

/// One header field: a name and one value (one element of a list header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name (compact forms already expanded).
    pub name: HeaderName,
    /// The value with surrounding whitespace removed and folding unfolded; for a list
    /// header, a single element.
    pub value: String,
}

/// Header fields in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<Header>,
}

impl Headers {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field at the end.
    pub fn push(&mut self, name: impl Into<HeaderName>, value: impl Into<String>) {
        self.entries.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    /// Inserts a field before all fields of the same name (or at the end when there is
    /// none), as a new top Via is added (RFC 3261 §8.1.1.7).
    pub fn push_front(&mut self, name: impl Into<HeaderName>, value: impl Into<String>) {
        let name = name.into();
        let at = self
            .entries
            .iter()
            .position(|h| h.name == name)
            .unwrap_or(self.entries.len());
        self.entries.insert(
            at,
            Header {
                name,
                value: value.into(),
            },
        );
    }

    /// Replaces every field of this name with one value, keeping the position of the first.
    pub fn set(&mut self, name: impl Into<HeaderName>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.entries.iter().position(|h| h.name == name) {
            Some(at) => {
                if let Some(first) = self.entries.get_mut(at) {
                    first.value = value;
                }
                let mut index = 0;
                self.entries.retain(|h| {
                    let keep = index <= at || h.name != name;
                    index += 1;
                    keep
                });
            }
            None => self.entries.push(Header { name, value }),
        }
    }

    /// Removes every field of this name; returns how many were removed.
    pub fn remove(&mut self, name: impl Into<HeaderName>) -> usize {
        let name = name.into();
        let before = self.entries.len();
        self.entries.retain(|h| h.name != name);
        before - self.entries.len()
    }

    /// The first value of this name.
    pub fn get(&self, name: impl Into<HeaderName>) -> Option<&str> {
        let name = name.into();
        self.entries
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.as_str())
    }

    /// Every value of this name, in order.
    pub fn get_all(&self, name: impl Into<HeaderName>) -> impl Iterator<Item = &str> {
        let name = name.into();
        self.entries
            .iter()
            .filter(move |h| h.name == name)
            .map(|h| h.value.as_str())
    }

    /// Mutable access to the first value of this name.
    pub fn get_mut(&mut self, name: impl Into<HeaderName>) -> Option<&mut String> {
        let name = name.into();
        self.entries
            .iter_mut()
            .find(|h| h.name == name)
            .map(|h| &mut h.value)
    }

    /// How many values of this name there are.
    pub fn count(&self, name: impl Into<HeaderName>) -> usize {
        let name = name.into();
        self.entries.iter().filter(|h| h.name == name).count()
    }

    /// Whether at least one field has this name.
    pub fn contains(&self, name: impl Into<HeaderName>) -> bool {
        self.count(name) > 0
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.entries.iter()
    }

    /// The number of fields (each list element counts as one).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_ordered() {
        let mut h = Headers::new();
        h.push("Via", "SIP/2.0/UDP a");
        h.push("v", "SIP/2.0/UDP b");
        h.push("X-Custom", "1");
        assert_eq!(h.get("VIA"), Some("SIP/2.0/UDP a"));
        assert_eq!(h.get_all(HeaderName::Via).collect::<Vec<_>>().len(), 2);
        assert_eq!(h.get("x-custom"), Some("1"));
        h.push_front(HeaderName::Via, "SIP/2.0/UDP top");
        assert_eq!(h.get(HeaderName::Via), Some("SIP/2.0/UDP top"));
        h.set("Via", "only");
        assert_eq!(h.count("via"), 1);
        assert_eq!(h.iter().next().map(|x| x.value.as_str()), Some("only"));
        assert_eq!(h.remove("x-CUSTOM"), 1);
        assert_eq!(h.len(), 1);
    }
}
