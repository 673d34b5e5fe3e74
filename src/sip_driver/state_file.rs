//! The RFC 5626 §4.1 instance-id, persisted so it survives restarts.

use std::io;
use std::path::{Path, PathBuf};

use rand::RngCore;

/// `$XDG_STATE_HOME/icephone/instance`, else `~/.local/state/icephone/instance`.
pub fn default_state_path() -> Option<PathBuf> {
    state_path_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

/// The XDG Base Directory rule: an empty or unset `XDG_STATE_HOME` means `$HOME/.local/state`.
fn state_path_from(
    xdg_state_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let base = match xdg_state_home.filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(home.filter(|h| !h.is_empty())?).join(".local/state"),
    };
    Some(base.join("icephone").join("instance"))
}

/// A random version-4 UUID as `urn:uuid:xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx` (RFC 4122
/// §4.4: version bits 0100, variant bits 10).
pub fn new_instance_urn() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether `s` is a `urn:uuid:` with a well-formed UUID.
pub fn is_instance_urn(s: &str) -> bool {
    let Some(uuid) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: Vec<&str> = uuid.split('-').collect();
    let lengths = [8usize, 4, 4, 4, 12];
    groups.len() == 5
        && groups
            .iter()
            .zip(lengths)
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Reads the instance URN from `path`, creating the file (and its directory) with a new
/// random one when it is missing. A file with anything else in it is an error, so a
/// corrupted state never silently changes our identity.
pub fn instance_id_from_state_file(path: &Path) -> io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let id = text.trim();
            if is_instance_urn(id) {
                Ok(id.to_owned())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a urn:uuid instance id", path.display()),
                ))
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // Written to a temporary file and linked into place, so two icephones starting
            // at once never read a half-written file: the first link wins, the other reads it.
            let id = new_instance_urn();
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, format!("{id}\n"))?;
            let linked = std::fs::hard_link(&tmp, path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => Ok(id),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    instance_id_from_state_file(path)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urn_is_v4_and_persisted() {
        let id = new_instance_urn();
        assert!(is_instance_urn(&id), "{id}");
        assert_eq!(id.as_bytes()[9 + 14], b'4');
        assert!(matches!(id.as_bytes()[9 + 19], b'8' | b'9' | b'a' | b'b'));
        let dir = std::env::temp_dir().join(format!("icephone-state-{}", std::process::id()));
        let path = dir.join("nested").join("instance");
        let _ = std::fs::remove_dir_all(&dir);
        let first = instance_id_from_state_file(&path).unwrap();
        let second = instance_id_from_state_file(&path).unwrap();
        assert_eq!(first, second);
        std::fs::write(&path, "garbage").unwrap();
        assert!(instance_id_from_state_file(&path).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_path_follows_xdg() {
        let p = |x: Option<&str>, h: Option<&str>| {
            state_path_from(x.map(Into::into), h.map(Into::into))
        };
        assert_eq!(
            p(Some("/s"), Some("/h")),
            Some(PathBuf::from("/s/icephone/instance"))
        );
        assert_eq!(
            p(Some(""), Some("/h")),
            Some(PathBuf::from("/h/.local/state/icephone/instance"))
        );
        assert_eq!(
            p(None, Some("/h")),
            Some(PathBuf::from("/h/.local/state/icephone/instance"))
        );
        assert_eq!(p(None, None), None);
    }

    #[test]
    fn rejects_malformed_urns() {
        assert!(!is_instance_urn("urn:uuid:1234"));
        assert!(!is_instance_urn(
            "uuid:00000000-0000-4000-8000-000000000000"
        ));
        assert!(is_instance_urn(
            "urn:uuid:00000000-0000-4000-8000-000000000000"
        ));
    }
}
