//! Service security options shared by both binaries: TLS (rustls) with optional client
//! certificates (mutual TLS), bearer tokens, and request size and deadline limits.

use crate::{pem, ServeError};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct SecurityArgs {
    /// Server certificate chain (PEM); with --tls-key, serve TLS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA (PEM) that client certificates must chain to: mutual TLS.
    #[arg(long, requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// File of accepted bearer tokens, one per line (`#` comments). Also: TRIAD_TOKENS
    /// (comma-separated). Health checks need no token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Largest request message accepted, in bytes.
    #[arg(long, default_value_t = 4 << 20)]
    pub max_request_bytes: usize,
    /// Deadline for a call to return its response (streams then run on), in seconds.
    #[arg(long, default_value_t = 120)]
    pub request_timeout_s: u64,
    /// Also serve `grpc.health.v1` alone, in plaintext, here (Kubernetes' gRPC probes and
    /// `--probe` do not speak TLS).
    #[arg(long, env = "TRIAD_HEALTH_LISTEN")]
    pub health_listen: Option<std::net::SocketAddr>,
}

/// What `serve_on` applies.
#[derive(Clone, Default)]
pub struct Security {
    pub tls: Option<tonic::transport::ServerTlsConfig>,
    pub tokens: Vec<String>,
    pub max_request_bytes: usize,
    pub request_timeout: Option<Duration>,
    pub health_listen: Option<std::net::SocketAddr>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|e| ServeError::Security(format!("{what} {}: {e}", path.display())))
}

/// Tokens from a file (one per line, blank lines and `#` comments skipped).
pub fn read_tokens(path: &Path) -> Result<Vec<String>, ServeError> {
    let text = String::from_utf8(read(path, "--token-file")?)
        .map_err(|_| ServeError::Security(format!("--token-file {}: not UTF-8", path.display())))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    if tokens.is_empty() {
        return Err(ServeError::Security(format!(
            "--token-file {}: holds no token",
            path.display()
        )));
    }
    Ok(tokens)
}

/// The comma-separated tokens of TRIAD_TOKENS. Set but empty (`""`, `","`) is an error, not
/// "no authentication": a variable meant to lock the service must never open it.
fn env_tokens(value: &str) -> Result<Vec<String>, ServeError> {
    let tokens: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    if tokens.is_empty() {
        return Err(ServeError::Security(
            "TRIAD_TOKENS is set but holds no token (unset it to run without authentication)"
                .into(),
        ));
    }
    Ok(tokens)
}

impl SecurityArgs {
    pub fn load(&self) -> Result<Security, ServeError> {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => {
                let (cert, key) = (read(c, "--tls-cert")?, read(k, "--tls-key")?);
                pem::check_identity(("--tls-cert", c, &cert), ("--tls-key", k, &key))?;
                let mut cfg = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
                if let Some(ca_path) = &self.tls_client_ca {
                    let ca = read(ca_path, "--tls-client-ca")?;
                    pem::check_roots("--tls-client-ca", ca_path, &ca)?;
                    cfg = cfg.client_ca_root(Certificate::from_pem(ca));
                }
                Some(cfg)
            }
            _ => None,
        };
        let mut tokens = match &self.token_file {
            Some(p) => read_tokens(p)?,
            None => vec![],
        };
        if let Ok(env) = std::env::var("TRIAD_TOKENS") {
            tokens.extend(env_tokens(&env)?);
        }
        if tokens.iter().any(|t| t.len() < 16) {
            return Err(ServeError::Security(
                "bearer tokens must be at least 16 characters".into(),
            ));
        }
        Ok(Security {
            tls,
            tokens,
            max_request_bytes: self.max_request_bytes,
            request_timeout: Some(Duration::from_secs(self.request_timeout_s.max(1))),
            health_listen: self.health_listen,
        })
    }
}

/// How a client reaches a secured service.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClientArgs {
    /// CA (PEM) the services' certificates chain to: connect with TLS.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate and key (PEM), for services that require mutual TLS.
    #[arg(long, requires = "tls_client_key")]
    pub tls_client_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_client_cert")]
    pub tls_client_key: Option<PathBuf>,
    /// Name to expect in the services' certificates (default: the host of each address).
    #[arg(long)]
    pub tls_domain: Option<String>,
    /// File whose first token line is sent as `authorization: Bearer …` (or TRIAD_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// Loaded client settings.
#[derive(Clone, Default)]
pub struct ClientSecurity {
    pub tls: Option<tonic::transport::ClientTlsConfig>,
    pub token: Option<String>,
}

impl ClientArgs {
    pub fn load(&self) -> Result<ClientSecurity, ServeError> {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let tls = match &self.tls_ca {
            None => None,
            Some(ca_path) => {
                let ca = read(ca_path, "--tls-ca")?;
                pem::check_roots("--tls-ca", ca_path, &ca)?;
                let mut cfg = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
                if let (Some(c), Some(k)) = (&self.tls_client_cert, &self.tls_client_key) {
                    let (cert, key) = (read(c, "--tls-client-cert")?, read(k, "--tls-client-key")?);
                    pem::check_identity(
                        ("--tls-client-cert", c, &cert),
                        ("--tls-client-key", k, &key),
                    )?;
                    cfg = cfg.identity(Identity::from_pem(cert, key));
                }
                if let Some(d) = &self.tls_domain {
                    cfg = cfg.domain_name(d.clone());
                }
                Some(cfg)
            }
        };
        let token = match &self.token_file {
            Some(p) => read_tokens(p)?.into_iter().next(),
            None => std::env::var("TRIAD_TOKEN").ok().filter(|t| !t.is_empty()),
        };
        Ok(ClientSecurity { tls, token })
    }
}

impl ClientSecurity {
    /// An endpoint for `addr` (`host:port`), over TLS when configured.
    pub fn endpoint(&self, addr: &str) -> Result<tonic::transport::Endpoint, ServeError> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let uri = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("{scheme}://{addr}")
        };
        let mut ep = tonic::transport::Endpoint::from_shared(uri)?
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Some(Duration::from_secs(30)));
        if let Some(tls) = &self.tls {
            ep = ep.tls_config(tls.clone())?;
        }
        Ok(ep)
    }

    /// Adds the bearer token to every call.
    pub fn interceptor(&self) -> TokenInterceptor {
        TokenInterceptor {
            header: self
                .token
                .as_ref()
                .and_then(|t| format!("Bearer {t}").parse().ok()),
        }
    }
}

#[derive(Clone)]
pub struct TokenInterceptor {
    header: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl tonic::service::Interceptor for TokenInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(h) = &self.header {
            req.metadata_mut().insert("authorization", h.clone());
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::env_tokens;

    #[test]
    fn an_empty_triad_tokens_fails_closed() {
        for empty in ["", ",", " , ,"] {
            let e = env_tokens(empty).unwrap_err().to_string();
            assert!(e.contains("TRIAD_TOKENS"), "{empty:?}: {e}");
        }
        assert_eq!(
            env_tokens(" a-token-of-16-chars , another-token-16c ,").unwrap(),
            ["a-token-of-16-chars", "another-token-16c"]
        );
    }
}
