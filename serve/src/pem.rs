//! TLS material checked when it is loaded, so a bad file stops the binary at start with the
//! flag, the file and what is wrong — not at the first handshake as "peer sent no
//! certificates" (what a file with no certificate in it otherwise becomes).

use crate::ServeError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

fn bad(flag: &str, path: &Path, what: impl std::fmt::Display) -> ServeError {
    ServeError::Security(format!("{flag} {}: {what}", path.display()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file: at least one, each a `CERTIFICATE` block.
fn certificates(
    flag: &str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(flag, path, format!("not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(bad(
            flag,
            path,
            "holds no PEM certificate (a `-----BEGIN CERTIFICATE-----` block)",
        ));
    }
    Ok(certs)
}

fn private_key(flag: &str, path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, ServeError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        bad(
            flag,
            path,
            format!("holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })
}

/// A certificate chain and its key, as a TLS server or client presents them: the chain
/// parses and the key is the one the first certificate names.
pub fn check_identity(
    (cert_flag, cert_path, cert): (&str, &Path, &[u8]),
    (key_flag, key_path, key): (&str, &Path, &[u8]),
) -> Result<(), ServeError> {
    let certs = certificates(cert_flag, cert_path, cert)?;
    let key = private_key(key_flag, key_path, key)?;
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Security(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InvalidCertificate(why) => bad(
                cert_flag,
                cert_path,
                format!("not a usable X.509 certificate ({why:?})"),
            ),
            other => ServeError::Security(format!(
                "{cert_flag} {} with {key_flag} {}: {other}",
                cert_path.display(),
                key_path.display()
            )),
        })?;
    Ok(())
}

/// CA certificates that peers' certificates must chain to: each one a usable trust anchor.
pub fn check_roots(flag: &str, path: &Path, pem: &[u8]) -> Result<(), ServeError> {
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in certificates(flag, path, pem)?.into_iter().enumerate() {
        store
            .add(cert)
            .map_err(|e| bad(flag, path, format!("certificate {}: {e}", i + 1)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_without_certificates_or_keys_are_named() {
        let p = Path::new("/etc/x.pem");
        let e = check_roots("--tls-ca", p, b"garbage\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--tls-ca /etc/x.pem: holds no PEM certificate"),
            "{e}"
        );
        let broken = b"-----BEGIN CERTIFICATE-----\nAAAAbmFu\n-----END CERTIFICATE-----\n";
        let e = check_roots("--tls-ca", p, broken).unwrap_err().to_string();
        assert!(e.contains("certificate 1"), "{e}");
        let e = check_identity(("--tls-cert", p, broken), ("--tls-key", p, b"no key"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--tls-key /etc/x.pem: holds no PEM private key"),
            "{e}"
        );
    }
}
