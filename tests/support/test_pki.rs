//! A private CA and a server certificate made at test time with the openssl CLI, for TLS
//! servers on loopback (coturn's TLS listener). The certificate names 127.0.0.1 and localhost
//! (subjectAltName), as RFC 6125 checks want; a second, unrelated CA stands for "the wrong
//! CA". Files live in a temporary directory removed on drop. A missing openssl is a loud
//! failure, never a skip. Included with `#[path = "support/test_pki.rs"] mod test_pki;`.

#![allow(dead_code)] // each test crate uses a different part of this module

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

pub const OPENSSL: &str = "/usr/bin/openssl";

pub struct TestPki {
    dir: PathBuf,
    /// The CA that signed the server certificate (what `--tls-ca` would name).
    pub ca: PathBuf,
    /// A CA that signed nothing here: trusting only it must fail verification.
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(OPENSSL)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {OPENSSL}: {e} (run ./test.sh, which installs Debian `openssl`)")
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA (P-256 key) named `name`, written as `<file>.pem` and `<file>.key`.
fn make_ca(dir: &Path, file: &str, name: &str) -> PathBuf {
    let (pem, key) = (format!("{file}.pem"), format!("{file}.key"));
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
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    dir.join(pem)
}

impl TestPki {
    pub fn new() -> TestPki {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("icephone-pki-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).expect("create PKI directory");
        let ca = make_ca(&dir, "ca", "icephone test CA");
        let other_ca = make_ca(&dir, "other-ca", "icephone unrelated CA");
        openssl(
            &dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write extensions");
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        TestPki {
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            ca,
            other_ca,
            dir,
        }
    }
}
