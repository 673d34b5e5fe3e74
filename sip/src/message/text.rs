//! Character classes and small scanners shared by every grammar in this module
//! (RFC 3261 §25.1 basic rules).

/// RFC 3261 §25.1: `token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")`.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// True when `s` is a non-empty token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Linear white space after unfolding: SP or HTAB (CR/LF too, for safety).
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims SP/HTAB/CR/LF from both ends.
pub fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

/// Splits `s` at every `sep` that is outside a quoted string and outside `<...>`
/// (RFC 3261 §7.3.1: a comma inside a quoted display name or a bracketed URI does not
/// separate values). Fails on an unterminated quoted string or bracket.
pub fn split_top_level(s: &str, sep: u8) -> Result<Vec<&str>, &'static str> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if in_quotes {
            match b {
                // RFC 3261 §25.1 quoted-pair: the next byte is taken literally.
                b'\\' => i += 1,
                b'"' => in_quotes = false,
                _ => {}
            }
        } else if in_angle {
            if b == b'>' {
                in_angle = false;
            }
        } else if b == b'"' {
            in_quotes = true;
        } else if b == b'<' {
            in_angle = true;
        } else if b == sep {
            parts.push(s.get(start..i).unwrap_or(""));
            start = i + 1;
        }
        i += 1;
    }
    if in_quotes {
        return Err("unterminated quoted string");
    }
    if in_angle {
        return Err("unterminated <");
    }
    parts.push(s.get(start..).unwrap_or(""));
    Ok(parts)
}

/// Reads a quoted string at the start of `s` (after optional LWS). Returns the unescaped
/// content and the rest after the closing quote.
pub fn take_quoted(s: &str) -> Result<(String, &str), &'static str> {
    let s = s.trim_start_matches([' ', '\t']);
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, '"')) => {}
        _ => return Err("expected a quoted string"),
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => out.push(escaped),
                None => return Err("quoted-pair at end of input"),
            },
            '"' => return Ok((out, s.get(i + 1..).unwrap_or(""))),
            _ => out.push(c),
        }
    }
    Err("unterminated quoted string")
}

/// Writes `s` as a quoted string, escaping `"` and `\` (RFC 3261 §25.1 quoted-pair).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Removes one level of surrounding double quotes and unescapes quoted-pairs; returns
/// the input unchanged when it is not quoted.
pub fn unquote(s: &str) -> String {
    match take_quoted(s) {
        Ok((inner, rest)) if rest.trim().is_empty() => inner,
        _ => s.to_owned(),
    }
}

/// RFC 3261 §19.1.2 `escaped = "%" HEXDIG HEXDIG`: decodes once, never recursively
/// (RFC 4475 §3.1.1.3: `%25%34%31` is `%41`, not `A`). A `%` not followed by two hex
/// digits is kept as is.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| hex_value(*c)),
                bytes.get(i + 2).and_then(|c| hex_value(*c)),
            ) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// True when every `%` in `s` starts a valid `%HEX HEX` escape.
pub fn escapes_are_valid(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(|c| c.is_ascii_hexdigit())
                && bytes.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit()))
    })
}

/// Parses `1*DIGIT` (leading zeros allowed, RFC 4475 §3.1.1.1) into a u32 without overflow.
pub fn parse_u32_digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = s.trim_start_matches('0');
    if trimmed.is_empty() {
        return Some(0);
    }
    trimmed.parse().ok()
}

/// Parses `1*DIGIT` into a usize without overflow.
pub fn parse_usize_digits(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = s.trim_start_matches('0');
    if trimmed.is_empty() {
        return Some(0);
    }
    trimmed.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_brackets() {
        let parts = split_top_level(r#""Bob, Jr \"x\"" <sip:b@x;a=1,2>, <sip:c@y>"#, b',').unwrap();
        assert_eq!(parts.len(), 2);
        assert!(parts[1].contains("sip:c@y"));
        assert!(split_top_level("\"open, ", b',').is_err());
    }

    #[test]
    fn percent_decoding_is_single_level() {
        assert_eq!(percent_decode("v%61lue%25%34%31"), b"value%41");
        assert_eq!(percent_decode("%Z%45"), b"%ZE");
        assert_eq!(percent_decode("%00%00"), vec![0, 0]);
    }

    #[test]
    fn digits_tolerate_leading_zeros_and_reject_overflow() {
        assert_eq!(parse_u32_digits("0009"), Some(9));
        assert_eq!(parse_u32_digits("4294967296"), None);
        assert_eq!(parse_u32_digits("-1"), None);
        assert_eq!(parse_usize_digits("000"), Some(0));
    }

    #[test]
    fn quoted_strings_unescape() {
        let (s, rest) = take_quoted(r#" "a\"b\\c" <x>"#).unwrap();
        assert_eq!(s, "a\"b\\c");
        assert_eq!(rest, " <x>");
        assert_eq!(quote("a\"b"), r#""a\"b""#);
    }
}
