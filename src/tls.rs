//! TLS client configuration shared by every TLS user in the program (SIP over TLS, TURN
//! over TLS): the system's roots plus `--tls-ca`, and an optional client certificate.
//!
//! Server certificates are always verified (RFC 5922 §7: against the host name the request
//! was sent to); there is no switch to turn verification off, so a security property never
//! degrades silently.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// What the user configured for TLS (`--tls-ca`, `--tls-cert`, `--tls-key`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// A PEM file of extra trust anchors (a private CA), added to the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate chain, sent when the server asks for one.
    pub cert_file: Option<PathBuf>,
    /// The PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
}

/// Why a TLS configuration could not be built; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM certificate in the file")]
    NoCertificate { path: PathBuf },
    #[error("{path}: certificate rejected: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{path}: no PEM private key in the file")]
    NoKey { path: PathBuf },
    #[error("--tls-cert and --tls-key go together (only {given} was given)")]
    HalfClientIdentity { given: &'static str },
    #[error("client certificate {cert} and key {key} do not match: {reason}")]
    ClientIdentity {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("no trust anchors: the system has no CA certificates and no --tls-ca was given")]
    NoRoots,
}

/// Why a host name cannot be checked against a certificate.
#[derive(Debug, thiserror::Error)]
#[error("{name:?} is not a valid TLS server name")]
pub struct BadServerName {
    pub name: String,
}

/// The name a server certificate is verified against (RFC 5922 §7.2: the host part of the
/// URI, or the SRV target; an IP literal is matched against the certificate's IP SANs).
pub fn server_name(host: &str) -> Result<ServerName<'static>, BadServerName> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).map_err(|_| BadServerName { name: host.into() })
}

/// Builds the client configuration: system roots + `ca_file`, client identity if given.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    // The system's store (/etc/ssl/certs on Debian); unreadable entries are skipped, as
    // every TLS client does, but an empty result without --tls-ca is an error below.
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = &settings.ca_file {
        for cert in read_certs(path)? {
            roots
                .add(cert)
                .map_err(|e| TlsConfigError::BadCertificate {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
        }
    }
    if roots.is_empty() {
        return Err(TlsConfigError::NoRoots);
    }
    // ring rather than rustls' default aws-lc-rs: no C/cmake build of aws-lc on every CI
    // run; rustls deprecates it only for lacking post-quantum key exchange.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots);
    let config = match (&settings.cert_file, &settings.key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => {
            return Err(TlsConfigError::HalfClientIdentity {
                given: "--tls-cert",
            })
        }
        (None, Some(_)) => return Err(TlsConfigError::HalfClientIdentity { given: "--tls-key" }),
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .map_err(|e| TlsConfigError::ClientIdentity {
                cert: cert.clone(),
                key: key.clone(),
                reason: e.to_string(),
            })?,
    };
    Ok(Arc::new(config))
}

fn open(path: &Path) -> Result<BufReader<File>, TlsConfigError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| TlsConfigError::Read {
            path: path.to_owned(),
            source,
        })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<_, _>>()
        .map_err(|source| TlsConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|source| TlsConfigError::Read {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsConfigError::NoKey {
            path: path.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_named() {
        let settings = TlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsSettings::default()
        };
        let err = client_config(&settings).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("icephone-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let settings = TlsSettings {
            ca_file: Some(path.clone()),
            ..TlsSettings::default()
        };
        let err = client_config(&settings).unwrap_err();
        assert!(matches!(err, TlsConfigError::NoCertificate { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        let settings = TlsSettings {
            cert_file: Some("/x/cert.pem".into()),
            ..TlsSettings::default()
        };
        assert!(matches!(
            client_config(&settings),
            Err(TlsConfigError::HalfClientIdentity { .. })
        ));
    }

    #[test]
    fn server_names_accept_hosts_and_bracketed_ipv6() {
        assert!(server_name("pbx.example.com").is_ok());
        assert!(server_name("[2001:db8::1]").is_ok());
        assert!(server_name("203.0.113.5").is_ok());
        assert!(server_name("bad name").is_err());
    }
}
