//! `;name[=value]` parameter lists used by URIs, Via and name-addr headers
//! (RFC 3261 §25.1 generic-param, uri-parameter, via-params).

use std::fmt;

use super::text::{percent_decode, split_top_level, trim_lws, unquote};

/// One parameter. Name and value are kept as received (escapes and quotes included) so
/// output reproduces the input; use [`Params::get_unquoted`] for the logical value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name as received; compared case-insensitively after unescaping.
    pub name: String,
    /// The value as received (quotes and escapes kept); `None` for a flag such as `lr`.
    pub value: Option<String>,
}

/// An ordered parameter list with case-insensitive names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the text after the first `;` (e.g. `branch=z9hG4bK1 ; rport`). LWS around `;`
    /// and `=` is allowed (RFC 3261 §25.1 SEMI and EQUAL are SWS-padded). Errors, saying
    /// why, on an empty name or value, a name with characters outside the grammar,
    /// whitespace inside an unquoted value, or an unbalanced quote.
    pub fn parse(s: &str) -> Result<Params, &'static str> {
        let mut params = Vec::new();
        for raw in split_top_level(s, b';')? {
            let (name, value) = match raw.split_once('=') {
                Some((n, v)) => (trim_lws(n), Some(trim_lws(v))),
                None => (trim_lws(raw), None),
            };
            if name.is_empty() {
                return Err("empty parameter name");
            }
            if name.bytes().any(|b| !is_param_byte(b)) {
                return Err("invalid character in parameter name");
            }
            if let Some(v) = value {
                if v.is_empty() {
                    return Err("empty parameter value after =");
                }
                if !v.starts_with('"') && v.bytes().any(|b| b.is_ascii_whitespace()) {
                    return Err("whitespace inside parameter value");
                }
            }
            params.push(Param {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            });
        }
        Ok(Params(params))
    }

    fn find(&self, name: &str) -> Option<&Param> {
        self.0.iter().find(|p| names_equal(&p.name, name))
    }

    /// True when the parameter is present (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The raw value: `Some("")` for a flag parameter like `lr` or an empty `rport`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).map(|p| p.value.as_deref().unwrap_or(""))
    }

    /// The value with surrounding quotes removed (e.g. `+sip.instance="<urn:...>"`).
    pub fn get_unquoted(&self, name: &str) -> Option<String> {
        self.get(name).map(unquote)
    }

    /// The value with `%HEX HEX` escapes decoded once (URI parameters).
    pub fn get_decoded(&self, name: &str) -> Option<Vec<u8>> {
        self.get(name).map(percent_decode)
    }

    /// Sets or replaces a parameter (`None` value = flag).
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        match self.0.iter_mut().find(|p| names_equal(&p.name, name)) {
            Some(p) => p.value = value,
            None => self.0.push(Param {
                name: name.to_owned(),
                value,
            }),
        }
    }

    /// Removes every parameter of this name.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !names_equal(&p.name, name));
    }

    /// All parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parameter names compare case-insensitively after unescaping (RFC 3261 §19.1.4).
fn names_equal(a: &str, b: &str) -> bool {
    if !a.contains('%') && !b.contains('%') {
        return a.eq_ignore_ascii_case(b);
    }
    percent_decode(a).eq_ignore_ascii_case(&percent_decode(b))
}

/// Bytes allowed in a parameter name: token plus URI `paramchar` extras.
fn is_param_byte(b: u8) -> bool {
    super::text::is_token_byte(b)
        || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'$' | b'(' | b')')
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match &p.value {
                Some(v) => write!(f, ";{}={}", p.name, v)?,
                None => write!(f, ";{}", p.name)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lws_around_semicolon_and_equals() {
        let p = Params::parse(" branch = z9hG4bK1 ; rport ;received=192.0.2.1").unwrap();
        assert_eq!(p.get("branch"), Some("z9hG4bK1"));
        assert_eq!(p.get("RPORT"), Some(""));
        assert_eq!(p.get("received"), Some("192.0.2.1"));
        assert_eq!(p.to_string(), ";branch=z9hG4bK1;rport;received=192.0.2.1");
    }

    #[test]
    fn quoted_values_and_escaped_names() {
        let p = Params::parse(r#"+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";n%61me=v%61lue%25%34%31"#)
            .unwrap();
        assert_eq!(
            p.get_unquoted("+sip.instance").as_deref(),
            Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
        );
        assert_eq!(p.get_decoded("name").as_deref(), Some(&b"value%41"[..]));
    }

    #[test]
    fn empty_parameters_are_errors() {
        assert!(Params::parse(";").is_err());
        assert!(Params::parse("a=").is_err());
        assert!(Params::parse("a;;b").is_err());
    }
}
