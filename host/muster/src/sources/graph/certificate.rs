//! Signing in to Entra ID with a certificate instead of a client secret: each token request
//! carries a client assertion (a JWT, RFC 7523) signed with the certificate's private key, as
//! Entra's "certificate credentials" describe it: `PS256`, the certificate's SHA-256 thumbprint
//! in `x5t#S256`, `aud` the token endpoint, `iss` and `sub` the client id, a fresh `jti`.
//!
//! The JWT is assembled here rather than with a JWT crate: it is three base64url parts, and
//! ring (already linked for TLS) signs it, so no second crypto stack comes in.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// How long an assertion is good for: Entra asks for 5-10 minutes after `nbf`.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// What is wrong with a certificate or its key, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key (PKCS#8 PRIVATE KEY or PKCS#1 RSA PRIVATE KEY)", path.display())]
    NoKey { path: PathBuf },
    #[error("the private key in {} is not an RSA key: Entra ID signs client assertions with RSA only", path.display())]
    NotRsa { path: PathBuf },
    #[error("the private key in {} was refused: {detail}", path.display())]
    BadKey { path: PathBuf, detail: String },
    #[error("signing the client assertion failed")]
    Sign,
}

/// A certificate registered on the app (its public part, under "Certificates & secrets") and
/// the private key that goes with it.
pub struct ClientCertificate {
    key: RsaKeyPair,
    /// base64url of the SHA-256 of the certificate's DER: Entra finds the key by it.
    thumbprint: String,
    /// Upper-case hex of the SHA-1 of the DER: the thumbprint the Entra portal lists.
    portal_thumbprint: String,
    random: SystemRandom,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

/// A private key other accounts can read is a leaked credential: say so, and go on (refusing
/// would stop provisioning over a file mode).
fn warn_if_others_can_read(key: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(key)
            && readable_by_others(meta.permissions().mode())
        {
            tracing::warn!(
                path = %key.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "the Graph client certificate's private key is readable by other accounts; chmod 600 it"
            );
        }
    }
}

/// Group or others may read (or write) the file.
fn readable_by_others(mode: u32) -> bool {
    mode & 0o077 != 0
}

impl ClientCertificate {
    /// Reads the first certificate of `certificate` and the private key of `key` (which may be
    /// the same file: a PEM holding both).
    pub fn load(certificate: &Path, key: &Path) -> Result<Self, CertificateError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| CertificateError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let certificate_pem = read(certificate)?;
        warn_if_others_can_read(key);
        let key_pem = if key == certificate {
            certificate_pem.clone()
        } else {
            read(key)?
        };
        let der = CertificateDer::pem_slice_iter(&certificate_pem)
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| CertificateError::NoCertificate {
                path: certificate.to_path_buf(),
            })?;
        let private =
            PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| CertificateError::NoKey {
                path: key.to_path_buf(),
            })?;
        let refused = |e: ring::error::KeyRejected| CertificateError::BadKey {
            path: key.to_path_buf(),
            detail: e.to_string(),
        };
        let key_pair = match &private {
            PrivateKeyDer::Pkcs8(k) => {
                RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()).map_err(|e| {
                    // ring names a PKCS#8 key of another algorithm this way.
                    if e.to_string() == "WrongAlgorithm" {
                        CertificateError::NotRsa {
                            path: key.to_path_buf(),
                        }
                    } else {
                        refused(e)
                    }
                })?
            }
            PrivateKeyDer::Pkcs1(k) => {
                RsaKeyPair::from_der(k.secret_pkcs1_der()).map_err(refused)?
            }
            _ => {
                return Err(CertificateError::NotRsa {
                    path: key.to_path_buf(),
                });
            }
        };
        Ok(ClientCertificate {
            key: key_pair,
            thumbprint: URL_SAFE_NO_PAD.encode(digest(&SHA256, der.as_ref())),
            portal_thumbprint: digest(&SHA1_FOR_LEGACY_USE_ONLY, der.as_ref())
                .as_ref()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect(),
            random: SystemRandom::new(),
        })
    }

    /// The `x5t#S256` Entra matches against the certificates uploaded to the app.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The thumbprint as the Entra portal lists it under Certificates & secrets (SHA-1, hex),
    /// so an operator can tell which uploaded certificate muster uses.
    pub fn portal_thumbprint(&self) -> &str {
        &self.portal_thumbprint
    }

    /// A signed client assertion for one token request to `token_url`.
    pub fn assertion(
        &self,
        token_url: &str,
        client_id: &str,
        now: SystemTime,
    ) -> Result<String, CertificateError> {
        let seconds = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let header = serde_json::json!({
            "alg": "PS256",
            "typ": "JWT",
            "x5t#S256": self.thumbprint,
        });
        let claims = serde_json::json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": seconds(now),
            "iat": seconds(now),
            "exp": seconds(now + ASSERTION_LIFETIME),
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PSS_SHA256,
                &self.random,
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| CertificateError::Sign)?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::readable_by_others;

    #[test]
    fn only_an_owner_only_key_passes_quietly() {
        assert!(!readable_by_others(0o100600));
        assert!(!readable_by_others(0o100400));
        assert!(readable_by_others(0o100640));
        assert!(readable_by_others(0o100644));
        assert!(readable_by_others(0o100602));
    }
}
