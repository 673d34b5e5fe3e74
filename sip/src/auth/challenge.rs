//! Parsing a `WWW-Authenticate` / `Proxy-Authenticate` header value (RFC 3261 §25.1
//! challenge grammar, RFC 7616 §3.3).

use super::{Algorithm, ChallengeError, Qop};

/// A Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space; also the key for per-realm credentials.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque data to echo back unchanged.
    pub opaque: Option<String>,
    /// The algorithm; MD5 when the challenge names none (RFC 2617 §3.2.1).
    pub algorithm: Algorithm,
    /// The qop values offered that this client knows, in server order. Empty means the
    /// challenge had no qop (RFC 2069 compatibility).
    pub qop: Vec<Qop>,
    /// `stale=true`: the previous credentials were right but the nonce expired
    /// (RFC 7616 §3.3).
    pub stale: bool,
    /// The `domain` list, unparsed.
    pub domain: Option<String>,
    /// `userhash=true` was requested (RFC 7616 §3.3); this client sends plain user names.
    pub userhash: bool,
}

/// Parse one challenge value such as
/// `Digest realm="atlanta.com", nonce="84a4cc6f", algorithm=SHA-256, qop="auth"`.
///
/// The scheme and parameter names are case-insensitive, values are tokens or quoted
/// strings with backslash escapes, linear whitespace (including folded lines) may appear
/// around `=` and `,`, and unknown parameters are ignored (RFC 7616 §3.3).
pub fn parse_challenge(value: &str) -> Result<Challenge, ChallengeError> {
    let mut cursor = Cursor::new(value);
    cursor.skip_lws();
    if cursor.at_end() {
        return Err(ChallengeError::Empty);
    }
    let scheme = cursor.token();
    if !scheme.eq_ignore_ascii_case("Digest") {
        return match cursor.peek() {
            Some(found) if scheme.is_empty() => Err(ChallengeError::UnexpectedChar {
                position: cursor.pos,
                found,
            }),
            _ => Err(ChallengeError::UnsupportedScheme(scheme.to_owned())),
        };
    }
    let params = parse_params(&mut cursor)?;
    build(params)
}

/// Parse every challenge in one header value. RFC 7235 §4.1 allows several comma-separated
/// challenges in one `WWW-Authenticate` value (`Digest …, Digest …`); each is parsed on its
/// own, so one unusable challenge (e.g. `Basic`) does not hide the others.
pub fn parse_challenges(value: &str) -> Vec<Result<Challenge, ChallengeError>> {
    split_challenges(value)
        .into_iter()
        .map(parse_challenge)
        .collect()
}

/// Split a header value at the start of each challenge: a token at a list-element start
/// that is followed by whitespace and another token, not by `=` (RFC 7235 §2.1: challenge =
/// auth-scheme [ 1*SP ( token68 / #auth-param ) ]). Commas inside quoted strings are skipped.
fn split_challenges(value: &str) -> Vec<&str> {
    let mut starts = vec![0];
    let mut cursor = Cursor::new(value);
    let mut at_element_start = true;
    while let Some(c) = cursor.peek() {
        match c {
            '"' => {
                // Unterminated strings run to the end; parse_challenge reports them.
                let _ = cursor.quoted_string();
                at_element_start = false;
            }
            ',' => {
                cursor.bump();
                at_element_start = true;
            }
            ' ' | '\t' | '\r' | '\n' => cursor.bump(),
            _ if at_element_start && is_token_char(c) => {
                let start = cursor.pos;
                let _ = cursor.token();
                let after_token = cursor.pos;
                cursor.skip_lws();
                let new_scheme = after_token != cursor.pos
                    && cursor.peek().is_some_and(|next| next != '=' && next != ',');
                if new_scheme && start != 0 {
                    starts.push(start);
                }
                at_element_start = false;
            }
            _ => {
                cursor.bump();
                at_element_start = false;
            }
        }
    }
    starts.push(value.len());
    starts
        .windows(2)
        .filter_map(|w| match w {
            [from, to] => value.get(*from..*to),
            _ => None,
        })
        .map(|piece| piece.trim_end_matches(|c: char| c == ',' || c.is_whitespace()))
        .collect()
}

/// RFC 7235 §2.1: auth-param = token BWS "=" BWS ( token / quoted-string ), separated by
/// commas; empty list elements are allowed by the #rule.
fn parse_params(cursor: &mut Cursor<'_>) -> Result<Vec<(String, String)>, ChallengeError> {
    let mut params: Vec<(String, String)> = Vec::new();
    loop {
        cursor.skip_lws();
        match cursor.peek() {
            None => return Ok(params),
            Some(',') => {
                cursor.bump();
                continue;
            }
            Some(_) => {}
        }
        let name = cursor.token().to_ascii_lowercase();
        if name.is_empty() {
            return Err(cursor.unexpected());
        }
        cursor.skip_lws();
        if cursor.peek() != Some('=') {
            return Err(ChallengeError::ExpectedEquals(name));
        }
        cursor.bump();
        cursor.skip_lws();
        let value = match cursor.peek() {
            Some('"') => cursor
                .quoted_string()
                .ok_or_else(|| ChallengeError::UnterminatedQuotedString(name.clone()))?,
            _ => {
                let token = cursor.token();
                if token.is_empty() {
                    return Err(ChallengeError::MissingValue(name));
                }
                token.to_owned()
            }
        };
        if params.iter().any(|(existing, _)| *existing == name) {
            return Err(ChallengeError::DuplicateParameter(name));
        }
        params.push((name, value));
        cursor.skip_lws();
        match cursor.peek() {
            None | Some(',') => {}
            Some(_) => return Err(cursor.unexpected()),
        }
    }
}

fn build(params: Vec<(String, String)>) -> Result<Challenge, ChallengeError> {
    let mut realm = None;
    let mut nonce = None;
    let mut opaque = None;
    let mut algorithm = Algorithm::Md5;
    let mut qop = None;
    let mut stale = false;
    let mut domain = None;
    let mut userhash = false;
    for (name, value) in params {
        match name.as_str() {
            "realm" => realm = Some(value),
            "nonce" => nonce = Some(value),
            "opaque" => opaque = Some(value),
            "algorithm" => {
                algorithm = Algorithm::from_token(value.trim())
                    .ok_or(ChallengeError::UnsupportedAlgorithm(value))?;
            }
            "qop" => qop = Some(parse_qop_list(&value)?),
            // RFC 7616 §3.3: stale and userhash are case-insensitive "true"/"false".
            "stale" => stale = value.eq_ignore_ascii_case("true"),
            "userhash" => userhash = value.eq_ignore_ascii_case("true"),
            "domain" => domain = Some(value),
            // RFC 7616 §3.3: unknown parameters MUST be ignored.
            _ => {}
        }
    }
    Ok(Challenge {
        realm: realm.ok_or(ChallengeError::MissingParameter("realm"))?,
        nonce: nonce.ok_or(ChallengeError::MissingParameter("nonce"))?,
        opaque,
        algorithm,
        qop: qop.unwrap_or_default(),
        stale,
        domain,
        userhash,
    })
}

/// RFC 7616 §3.3: qop is a quoted, comma-separated list; unknown values are ignored, but a
/// list with none we know is unusable.
fn parse_qop_list(value: &str) -> Result<Vec<Qop>, ChallengeError> {
    let known: Vec<Qop> = value
        .split(',')
        .filter_map(|item| Qop::from_token(item.trim()))
        .collect();
    if known.is_empty() {
        Err(ChallengeError::UnsupportedQop(value.to_owned()))
    } else {
        Ok(known)
    }
}

/// A byte cursor over the header value.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn at_end(&self) -> bool {
        self.rest().is_empty()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn unexpected(&self) -> ChallengeError {
        match self.peek() {
            Some(found) => ChallengeError::UnexpectedChar {
                position: self.pos,
                found,
            },
            None => ChallengeError::Empty,
        }
    }

    /// RFC 3261 §25.1: LWS = [*WSP CRLF] 1*WSP; folded lines count as whitespace.
    fn skip_lws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r' | '\n')) {
            self.bump();
        }
    }

    /// RFC 3261 §25.1 token characters.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_token_char) {
            self.bump();
        }
        self.text.get(start..self.pos).unwrap_or("")
    }

    /// A quoted string starting at `"`; `None` when unterminated. RFC 3261 §25.1:
    /// quoted-pair = "\" followed by any character, which stands for itself.
    fn quoted_string(&mut self) -> Option<String> {
        self.bump(); // opening quote
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.bump();
            match c {
                '"' => return Some(out),
                '\\' => {
                    let escaped = self.peek()?;
                    self.bump();
                    out.push(escaped);
                }
                other => out.push(other),
            }
        }
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.' | '!' | '%' | '*' | '_' | '+' | '`' | '\'' | '~'
        )
}
