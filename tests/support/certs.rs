//! Test certificates made at test time with the openssl CLI (Debian package `openssl`): a CA
//! and server certificates it signs, with the subjectAltNames a test asks for (webpki, and so
//! rustls, checks names only against subjectAltName).
//!
//! Included with `#[path = "support/certs.rs"] mod certs;` (or `../support/certs.rs` from
//! tests/lab/).

#![allow(dead_code)] // each test crate uses a different subset of these helpers

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA: its certificate and key (PEM files).
pub struct Ca {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A server identity: certificate (signed by a [`Ca`]) and key (PEM files).
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): install the Debian package `openssl`")
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new CA named `name` in `dir` (`NAME.pem`, `NAME.key`), valid for two days.
pub fn make_ca(dir: &Path, name: &str) -> Ca {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=icephone test {name}"),
            "-keyout",
            &key,
            "-out",
            &cert,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    Ca {
        cert: dir.join(cert),
        key: dir.join(key),
    }
}

/// A server certificate `NAME.pem`/`NAME.key` in `dir`, signed by `ca`, for `sans` (openssl
/// subjectAltName entries such as `DNS:pbx.test` or `IP:203.0.113.10`).
pub fn make_server_cert(dir: &Path, ca: &Ca, name: &str, sans: &[&str]) -> ServerCert {
    let (cert, key, csr, ext) = (
        format!("{name}.pem"),
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.ext"),
    );
    std::fs::write(
        dir.join(&ext),
        format!(
            "subjectAltName={}\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
            sans.join(",")
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    let (ca_cert, ca_key) = (ca.cert.display().to_string(), ca.key.display().to_string());
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_cert,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
    ServerCert {
        cert: dir.join(cert),
        key: dir.join(key),
    }
}
