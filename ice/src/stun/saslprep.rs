//! A small, documented subset of SASLprep (RFC 4013) used to prepare passwords and realms
//! before they key MESSAGE-INTEGRITY.
//!
//! RFC 8489 §9.2.2 asks for the PRECIS OpaqueString profile (RFC 8265); RFC 5389 and its test
//! vectors (RFC 5769 §2.4) use SASLprep. Both leave ASCII untouched, which covers ICE
//! passwords (`ice-char` only) and nearly every TURN password. For non-ASCII input we apply the
//! SASLprep mapping steps that RFC 5769 exercises, plus the compatibility characters people
//! actually type, and leave everything else as it is:
//!
//! - RFC 3454 B.1, "commonly mapped to nothing" (soft hyphen, zero-width joiners, variation
//!   selectors, BOM): removed.
//! - RFC 3454 C.1.2, non-ASCII spaces: mapped to U+0020 (SASLprep and OpaqueString agree).
//! - NFKC, only for: ª º ¹ ² ³, Roman numerals U+2160-U+217F, full-width ASCII U+FF01-U+FF5E.
//!
//! Not done (see ASSUMPTIONS.md): full NFKC/NFC normalization, prohibited-output and bidi
//! checks. A password outside this subset is used as its UTF-8 bytes.

use std::borrow::Cow;

/// Prepare `input` as described in the module documentation.
pub fn prepare(input: &str) -> Cow<'_, str> {
    if input.is_ascii() {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if is_mapped_to_nothing(c) {
            continue;
        }
        if is_non_ascii_space(c) {
            out.push(' ');
            continue;
        }
        match compatibility_decomposition(c) {
            Some(replacement) => out.push_str(replacement),
            None => match fullwidth_ascii(c) {
                Some(ascii) => out.push(ascii),
                None => out.push(c),
            },
        }
    }
    Cow::Owned(out)
}

/// RFC 3454 table B.1.
fn is_mapped_to_nothing(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{1806}' | '\u{180B}'..='\u{180D}' | '\u{200B}'..='\u{200D}'
        | '\u{2060}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}')
}

/// RFC 3454 table C.1.2 (U+200B is in B.1 as well and is removed above).
fn is_non_ascii_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// The NFKC results for the few compatibility characters this subset handles.
fn compatibility_decomposition(c: char) -> Option<&'static str> {
    const ROMAN: [&str; 16] = [
        "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "L", "C", "D",
        "M",
    ];
    const ROMAN_SMALL: [&str; 16] = [
        "i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "l", "c", "d",
        "m",
    ];
    let code = u32::from(c);
    match c {
        '\u{00AA}' => Some("a"),
        '\u{00BA}' => Some("o"),
        '\u{00B9}' => Some("1"),
        '\u{00B2}' => Some("2"),
        '\u{00B3}' => Some("3"),
        '\u{2160}'..='\u{216F}' => ROMAN.get((code - 0x2160) as usize).copied(),
        '\u{2170}'..='\u{217F}' => ROMAN_SMALL.get((code - 0x2170) as usize).copied(),
        _ => None,
    }
}

/// NFKC maps full-width ASCII U+FF01-U+FF5E to U+0021-U+007E.
fn fullwidth_ascii(c: char) -> Option<char> {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_5769_password_becomes_thematrix() {
        // RFC 5769 §2.4: "The<U+00AD>M<U+00AA>tr<U+2168>" is "TheMatrIX" after SASLprep.
        assert_eq!(prepare("The\u{00AD}M\u{00AA}tr\u{2168}"), "TheMatrIX");
    }

    #[test]
    fn ascii_is_borrowed_unchanged() {
        assert!(matches!(
            prepare("VOkJxbRl1RmTxUk/WvJxBt"),
            Cow::Borrowed("VOkJxbRl1RmTxUk/WvJxBt")
        ));
    }

    #[test]
    fn rfc_4013_examples_within_the_subset() {
        // RFC 4013 §3 examples: "I<U+00AD>X" -> "IX", "<U+00AA>" -> "a", "<U+2168>" -> "IX".
        assert_eq!(prepare("I\u{00AD}X"), "IX");
        assert_eq!(prepare("\u{00AA}"), "a");
        assert_eq!(prepare("\u{2168}"), "IX");
        assert_eq!(prepare("a\u{00A0}b"), "a b");
        assert_eq!(prepare("\u{FF21}\u{FF42}"), "Ab");
    }

    #[test]
    fn other_non_ascii_is_kept() {
        assert_eq!(prepare("マトリックス"), "マトリックス");
        assert_eq!(prepare("pässwörd"), "pässwörd");
    }
}
