//! Per-realm digest state across requests (RFC 3261 §22, RFC 7616, RFC 8760).

use std::fmt;

use tracing::debug;

use super::{
    compute_response, parse_challenges, random_cnonce, Algorithm, AuthError, Authorization,
    Challenge, ChallengeError, DigestInput, Qop,
};

/// RFC 7616 §3.3 lets a server answer `stale=true` repeatedly; after this many in a row for
/// one realm we stop instead of looping.
const MAX_CONSECUTIVE_STALE: u32 = 3;

/// How many realms' algorithm floors are remembered (oldest forgotten first), so a server
/// inventing realms cannot grow the client without bound.
const MAX_FLOORS: usize = 32;

/// User name and password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name (the SIP auth user, not necessarily the AOR user part).
    pub username: String,
    /// Password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never log passwords.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Which of the two challenge/credential header pairs is in play (RFC 3261 §22.2, §22.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengeKind {
    /// 401: `WWW-Authenticate` → `Authorization`.
    Www,
    /// 407: `Proxy-Authenticate` → `Proxy-Authorization`.
    Proxy,
}

impl ChallengeKind {
    /// The kind for a 401 or a 407.
    pub fn from_status(status: u16) -> Result<Self, AuthError> {
        match status {
            401 => Ok(ChallengeKind::Www),
            407 => Ok(ChallengeKind::Proxy),
            other => Err(AuthError::NotAChallengeStatus(other)),
        }
    }

    /// Name of the header carrying the challenge.
    pub fn challenge_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "WWW-Authenticate",
            ChallengeKind::Proxy => "Proxy-Authenticate",
        }
    }

    /// Name of the header carrying the answer.
    pub fn authorization_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "Authorization",
            ChallengeKind::Proxy => "Proxy-Authorization",
        }
    }
}

/// A header to add to the retried request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    /// `Authorization` or `Proxy-Authorization`.
    pub name: &'static str,
    /// The header value.
    pub value: String,
}

/// Where a realm's credentials stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A challenge arrived and has not been answered yet.
    Fresh,
    /// We answered it; a non-stale challenge now means the password is wrong.
    Tried,
    /// A request with these credentials succeeded.
    Proven,
}

#[derive(Debug)]
struct RealmState {
    kind: ChallengeKind,
    challenge: Challenge,
    cnonce: String,
    nc: u32,
    phase: Phase,
    consecutive_stale: u32,
}

/// Answers digest challenges with one set of credentials and remembers every realm's
/// nonce, so later requests (and stale-nonce retries) need no user interaction.
///
/// Use: on a 401/407 call [`on_challenge`](Self::on_challenge) with every challenge header
/// value; then [`authorization_headers`](Self::authorization_headers) for the retried
/// request (with its CSeq incremented by the caller, RFC 3261 §22.1); on a 2xx call
/// [`on_success`](Self::on_success).
///
/// RFC 3261 §22.1: the ACK for a non-2xx final reuses the INVITE's credentials, and a
/// CANCEL is never challenged, so for those two the caller copies the INVITE's headers
/// instead of calling `authorization_headers` again (which would advance `nc`).
pub struct DigestClient {
    credentials: Credentials,
    realms: Vec<RealmState>,
    /// Per realm, the strongest algorithm we have answered with: never go below it.
    floors: Vec<(String, Algorithm)>,
    cnonce_source: Box<dyn FnMut() -> String + Send>,
}

impl fmt::Debug for DigestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestClient")
            .field("credentials", &self.credentials)
            .field("realms", &self.realms)
            .finish_non_exhaustive()
    }
}

impl DigestClient {
    /// A client with random client nonces.
    pub fn new(credentials: Credentials) -> Self {
        Self::with_cnonce_source(credentials, Box::new(|| random_cnonce(&mut rand::rng())))
    }

    /// A client whose client nonces come from `source` (for tests and reproducible runs).
    pub fn with_cnonce_source(
        credentials: Credentials,
        source: Box<dyn FnMut() -> String + Send>,
    ) -> Self {
        DigestClient {
            credentials,
            realms: Vec::new(),
            floors: Vec::new(),
            cnonce_source: source,
        }
    }

    /// Take in the challenges of a 401 or 407 (`values` = every `WWW-Authenticate` or
    /// `Proxy-Authenticate` value, in order).
    ///
    /// Errors: [`AuthError::WrongCredentials`] when a realm we just answered challenges
    /// again without `stale=true`, [`AuthError::AlgorithmDowngrade`] when a realm we
    /// answered with a stronger algorithm now offers only weaker ones; the caller must then
    /// stop retrying. On an error no realm's state changes.
    pub fn on_challenge(&mut self, status: u16, values: &[&str]) -> Result<(), AuthError> {
        let kind = ChallengeKind::from_status(status)?;
        let chosen = choose_per_realm(values)?;
        for challenge in &chosen {
            self.check_no_downgrade(challenge)?;
        }
        for challenge in chosen {
            self.accept(kind, challenge)?;
        }
        Ok(())
    }

    /// RFC 8760 §2.4 / RFC 7616 §5.8: a man in the middle (or a confused server) must not
    /// talk us down from SHA-256 to MD5 within a realm, e.g. with a `stale=true` MD5-only
    /// challenge.
    fn check_no_downgrade(&self, challenge: &Challenge) -> Result<(), AuthError> {
        let floor = self
            .floors
            .iter()
            .find(|(realm, _)| *realm == challenge.realm)
            .map(|(_, algorithm)| *algorithm);
        match floor {
            Some(used) if challenge.algorithm.strength() < used.strength() => {
                tracing::warn!(
                    realm = %challenge.realm,
                    used = used.token(),
                    offered = challenge.algorithm.token(),
                    "digest algorithm downgrade refused"
                );
                Err(AuthError::AlgorithmDowngrade {
                    realm: challenge.realm.clone(),
                    used: used.token(),
                    offered: challenge.algorithm.token(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Remember that `algorithm` was used for `realm`.
    fn raise_floor(floors: &mut Vec<(String, Algorithm)>, realm: &str, algorithm: Algorithm) {
        match floors.iter_mut().find(|(r, _)| r == realm) {
            Some((_, floor)) if algorithm.strength() > floor.strength() => *floor = algorithm,
            Some(_) => {}
            None => {
                if floors.len() >= MAX_FLOORS {
                    floors.remove(0);
                }
                floors.push((realm.to_owned(), algorithm));
            }
        }
    }

    fn accept(&mut self, kind: ChallengeKind, challenge: Challenge) -> Result<(), AuthError> {
        let cnonce = (self.cnonce_source)();
        let existing = self
            .realms
            .iter_mut()
            .find(|r| r.kind == kind && r.challenge.realm == challenge.realm);
        let Some(state) = existing else {
            self.realms.push(RealmState {
                kind,
                challenge,
                cnonce,
                nc: 0,
                phase: Phase::Fresh,
                consecutive_stale: 0,
            });
            return Ok(());
        };
        let realm = challenge.realm.clone();
        if challenge.stale {
            // RFC 7616 §3.3: stale=true → the password was right; retry with the new
            // nonce without asking the user, but never forever.
            state.consecutive_stale = state.consecutive_stale.saturating_add(1);
            if state.consecutive_stale > MAX_CONSECUTIVE_STALE {
                return Err(AuthError::TooManyStaleNonces { realm });
            }
        } else if state.phase == Phase::Tried {
            // RFC 3261 §22.1 / RFC 7616 §3.3: a fresh challenge right after our answer
            // means the credentials are wrong; retrying would loop.
            debug!(realm = %realm, "digest credentials rejected");
            return Err(AuthError::WrongCredentials { realm });
        } else {
            state.consecutive_stale = 0;
        }
        state.challenge = challenge;
        state.cnonce = cnonce;
        // RFC 7616 §3.4: nc counts requests per nonce; a new nonce restarts it.
        state.nc = 0;
        state.phase = Phase::Fresh;
        Ok(())
    }

    /// The `Authorization` / `Proxy-Authorization` headers for a request, one per known
    /// realm. `uri` is the Request-URI as sent and `body` the message body (hashed only
    /// with qop=auth-int). Each call uses the next nonce count.
    pub fn authorization_headers(
        &mut self,
        method: &str,
        uri: &str,
        body: &[u8],
    ) -> Result<Vec<AuthHeader>, AuthError> {
        let mut headers = Vec::with_capacity(self.realms.len());
        for state in &mut self.realms {
            let nc = state
                .nc
                .checked_add(1)
                .ok_or_else(|| AuthError::NonceCountExhausted {
                    realm: state.challenge.realm.clone(),
                })?;
            state.nc = nc;
            let challenge = &state.challenge;
            let qop = choose_qop(&challenge.qop);
            // RFC 2617 §3.2.2: without qop there is no cnonce unless -sess needs one.
            let send_cnonce = qop.is_some() || challenge.algorithm.is_session();
            let input = DigestInput {
                algorithm: challenge.algorithm,
                username: &self.credentials.username,
                realm: &challenge.realm,
                password: &self.credentials.password,
                nonce: &challenge.nonce,
                cnonce: &state.cnonce,
                nc,
                qop,
                method,
                uri,
                body,
            };
            let authorization = Authorization {
                username: self.credentials.username.clone(),
                realm: challenge.realm.clone(),
                nonce: challenge.nonce.clone(),
                uri: uri.to_owned(),
                response: compute_response(&input),
                algorithm: challenge.algorithm,
                cnonce: send_cnonce.then(|| state.cnonce.clone()),
                opaque: challenge.opaque.clone(),
                qop,
                nc: qop.map(|_| nc),
            };
            if state.phase == Phase::Fresh {
                state.phase = Phase::Tried;
            }
            Self::raise_floor(&mut self.floors, &challenge.realm, challenge.algorithm);
            headers.push(AuthHeader {
                name: state.kind.authorization_header(),
                value: authorization.to_header_value(),
            });
        }
        Ok(headers)
    }

    /// The request carrying our credentials succeeded: they are proven, so a later
    /// challenge (e.g. a nonce the server expired without `stale`) is answered once more.
    pub fn on_success(&mut self) {
        for state in &mut self.realms {
            state.phase = Phase::Proven;
            state.consecutive_stale = 0;
        }
    }

    /// Drop every realm whose credentials never succeeded, e.g. after giving up on a
    /// server that invents realms, so later requests do not carry their credentials up
    /// front. The algorithm floors stay: a forgotten realm still cannot be downgraded.
    pub fn forget_unproven(&mut self) {
        self.realms.retain(|r| r.phase == Phase::Proven);
    }

    /// Realms currently known, for diagnostics.
    pub fn realms(&self) -> impl Iterator<Item = (ChallengeKind, &str)> {
        self.realms
            .iter()
            .map(|r| (r.kind, r.challenge.realm.as_str()))
    }
}

/// RFC 3261 §22.3: answer every realm; RFC 8760 §2.4 / RFC 7616 §3.7: among several
/// challenges for one realm, use the strongest algorithm we support (the server's order
/// breaks ties). Challenges we cannot parse or compute are skipped.
fn choose_per_realm(values: &[&str]) -> Result<Vec<Challenge>, AuthError> {
    let mut chosen: Vec<Challenge> = Vec::new();
    let mut first_error: Option<ChallengeError> = None;
    for parsed in values.iter().flat_map(|value| parse_challenges(value)) {
        let challenge = match parsed {
            Ok(c) => c,
            Err(e) => {
                debug!(error = %e, "skipping unusable challenge");
                first_error.get_or_insert(e);
                continue;
            }
        };
        match chosen.iter_mut().find(|c| c.realm == challenge.realm) {
            Some(current) if challenge.algorithm.strength() > current.algorithm.strength() => {
                *current = challenge;
            }
            Some(_) => {}
            None => chosen.push(challenge),
        }
    }
    if chosen.is_empty() {
        return Err(match first_error {
            Some(e) => AuthError::NoUsableChallenge(e),
            None => AuthError::NoChallenge,
        });
    }
    Ok(chosen)
}

/// Prefer `auth` (what every SIP server verifies) and fall back to `auth-int`.
fn choose_qop(offered: &[Qop]) -> Option<Qop> {
    if offered.contains(&Qop::Auth) {
        Some(Qop::Auth)
    } else {
        offered.first().copied()
    }
}
