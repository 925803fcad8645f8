//! `--web.config.file`: the web configuration node_exporter and Prometheus read (Prometheus'
//! exporter-toolkit format), so existing files keep working. TLS (rustls, with client
//! certificate verification), basic auth against bcrypt hashes, and extra response headers.
//!
//! Every error names the field at fault; unknown fields are errors, as a typo in a security
//! setting must not pass unnoticed. bcrypt costs ~100 ms by design, so a verified
//! `Authorization` value is remembered (as exporter-toolkit does) and a scrape pays it once.

use crate::error::{Error, Result};
use base64::Engine;
use parking_lot::Mutex;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    http_server_config: Option<HttpFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    headers: Option<BTreeMap<String, String>>,
    http2: Option<bool>,
}

/// What the server does with a web configuration.
pub struct WebConfig {
    /// TLS, when configured.
    pub tls: Option<Arc<ServerConfig>>,
    /// Headers added to every response.
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    users: HashMap<String, String>,
    /// `Authorization` values checked already, and whether they passed.
    verified: Mutex<HashMap<String, bool>>,
}

/// Past this many remembered `Authorization` values the memory is emptied.
const MAX_REMEMBERED: usize = 1024;

fn invalid(field: &str, message: impl std::fmt::Display) -> Error {
    Error::InvalidValue(format!("web config: {field}: {message}"))
}

impl WebConfig {
    /// Reads and checks a web configuration file.
    pub fn load(path: &Path) -> Result<WebConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| Error::InvalidValue(format!("web config: cannot read {}: {err}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        WebConfig::parse(&text, base)
    }

    /// Checks a web configuration; relative file names are read from `base`.
    pub fn parse(text: &str, base: &Path) -> Result<WebConfig> {
        let file: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_yaml::from_str(text).map_err(|err| Error::InvalidValue(format!("web config: {err}")))?
        };
        let tls = file.tls_server_config.map(|tls| tls_config(tls, base)).transpose()?;
        let mut users = HashMap::new();
        for (user, hash) in file.basic_auth_users.unwrap_or_default() {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(invalid(&format!("basic_auth_users.{user}"), "is not a bcrypt hash"));
            }
            users.insert(user, hash);
        }
        let mut headers = Vec::new();
        if let Some(http) = file.http_server_config {
            if http.http2 == Some(true) {
                return Err(invalid("http_server_config.http2", "HTTP/2 is not served"));
            }
            for (name, value) in http.headers.unwrap_or_default() {
                let field = format!("http_server_config.headers.{name}");
                let name = name.parse().map_err(|err| invalid(&field, err))?;
                let value = value.parse().map_err(|err| invalid(&field, err))?;
                headers.push((name, value));
            }
        }
        Ok(WebConfig { tls, headers, users, verified: Mutex::new(HashMap::new()) })
    }

    /// Whether requests must authenticate.
    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether this `Authorization` value passed when last checked, if it was.
    pub fn remembered(&self, authorization: Option<&str>) -> Option<bool> {
        match authorization {
            None => Some(false),
            Some(value) => self.verified.lock().get(value).copied(),
        }
    }

    /// Whether an `Authorization` header value names a user and its password (blocking: bcrypt).
    pub fn authorized(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else { return false };
        if let Some(known) = self.verified.lock().get(value) {
            return *known;
        }
        let passed = self.check(value);
        let mut verified = self.verified.lock();
        if verified.len() >= MAX_REMEMBERED {
            verified.clear();
        }
        verified.insert(value.to_owned(), passed);
        passed
    }

    fn check(&self, value: &str) -> bool {
        let Some(encoded) = value.strip_prefix("Basic ") else { return false };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
        let Ok(decoded) = String::from_utf8(decoded) else { return false };
        let Some((user, password)) = decoded.split_once(':') else { return false };
        self.users.get(user).is_some_and(|hash| bcrypt::verify(password, hash).unwrap_or(false))
    }
}

fn tls_config(tls: TlsFile, base: &Path) -> Result<Arc<ServerConfig>> {
    let provider = rustls::crypto::ring::default_provider();
    let versions = versions(tls.min_version.as_deref(), tls.max_version.as_deref())?;
    let cert_file = tls.cert_file.ok_or_else(|| invalid("tls_server_config.cert_file", "is required"))?;
    let key_file = tls.key_file.ok_or_else(|| invalid("tls_server_config.key_file", "is required"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(base.join(&cert_file))
        .and_then(|certs| certs.collect())
        .map_err(|err| invalid("tls_server_config.cert_file", format!("{}: {err}", cert_file.display())))?;
    if certs.is_empty() {
        return Err(invalid("tls_server_config.cert_file", format!("{}: no certificate", cert_file.display())));
    }
    let key = PrivateKeyDer::from_pem_file(base.join(&key_file))
        .map_err(|err| invalid("tls_server_config.key_file", format!("{}: {err}", key_file.display())))?;
    let mut provider = provider;
    if let Some(names) = &tls.cipher_suites {
        let mut chosen = Vec::new();
        for name in names {
            let suite = provider
                .cipher_suites
                .iter()
                .find(|s| matches_go_name(&format!("{:?}", s.suite()), name))
                .ok_or_else(|| invalid("tls_server_config.cipher_suites", format!("{name:?} is not supported")))?;
            chosen.push(*suite);
        }
        // TLS 1.3 suites aren't configurable in Go's server either: all are kept.
        chosen.extend(provider.cipher_suites.iter().filter(|s| s.tls13().is_some()).copied());
        provider.cipher_suites = chosen;
    }
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|err| invalid("tls_server_config", err))?;
    let auth_type = tls.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth_type {
        "NoClientCert" => builder.with_no_client_auth(),
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let ca_file = tls.client_ca_file.as_ref().ok_or_else(|| {
                invalid("tls_server_config.client_ca_file", format!("is required with client_auth_type {auth_type}"))
            })?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(base.join(ca_file))
                .map_err(|err| invalid("tls_server_config.client_ca_file", format!("{}: {err}", ca_file.display())))?
            {
                let cert = cert.map_err(|err| invalid("tls_server_config.client_ca_file", err))?;
                roots.add(cert).map_err(|err| invalid("tls_server_config.client_ca_file", err))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier =
                if auth_type == "VerifyClientCertIfGiven" { verifier.allow_unauthenticated() } else { verifier };
            builder.with_client_cert_verifier(
                verifier.build().map_err(|err| invalid("tls_server_config.client_ca_file", err))?,
            )
        }
        other => {
            let message = format!(
                "{other:?} is not supported (NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
            );
            return Err(invalid("tls_server_config.client_auth_type", message));
        }
    };
    let _ = tls.prefer_server_cipher_suites; // rustls always prefers the server's order
    let mut config = builder.with_single_cert(certs, key).map_err(|err| invalid("tls_server_config.key_file", err))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Go's name of a suite (`TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305` drops `_SHA256`) or the IANA one.
fn matches_go_name(iana: &str, name: &str) -> bool {
    iana == name || iana.strip_suffix("_SHA256").is_some_and(|short| short == name && short.ends_with("POLY1305"))
}

fn versions(min: Option<&str>, max: Option<&str>) -> Result<Vec<&'static rustls::SupportedProtocolVersion>> {
    let rank = |field: &str, name: Option<&str>, default: u8| match name {
        None => Ok(default),
        Some("TLS12") => Ok(12),
        Some("TLS13") => Ok(13),
        Some(v @ ("TLS10" | "TLS11")) => Err(invalid(field, format!("{v} is not supported (TLS12 or TLS13)"))),
        Some(v) => Err(invalid(field, format!("{v:?} is not a TLS version (TLS12 or TLS13)"))),
    };
    let (min, max) = (rank("tls_server_config.min_version", min, 12)?, rank("tls_server_config.max_version", max, 13)?);
    let versions: Vec<_> = [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
        .into_iter()
        .filter(|(v, _)| (min..=max).contains(v))
        .map(|(_, version)| version)
        .collect();
    if versions.is_empty() {
        return Err(invalid("tls_server_config.max_version", "is below min_version"));
    }
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let err = |text: &str| WebConfig::parse(text, Path::new("/nonexistent")).err().unwrap().to_string();
        assert!(err("tls_server_config:\n  cert_fil: x\n").contains("unknown field `cert_fil`"));
        assert!(err("tls_server_config:\n  key_file: k\n").contains("tls_server_config.cert_file: is required"));
        assert!(err("tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n")
            .contains("tls_server_config.cert_file: c.pem:"));
        assert!(err("basic_auth_users:\n  alice: secret\n").contains("basic_auth_users.alice: is not a bcrypt hash"));
        assert!(err("http_server_config:\n  headers:\n    \"Bad Header\": x\n")
            .contains("http_server_config.headers.Bad Header"));
        assert!(err("[unclosed").starts_with("web config: "));
        assert!(versions(Some("TLS10"), None).err().unwrap().to_string().contains("TLS10 is not supported"));
        assert!(matches_go_name("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"));
    }

    #[test]
    fn basic_auth_checks_and_remembers() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let config = WebConfig::parse(&format!("basic_auth_users:\n  alice: '{hash}'\n"), Path::new(".")).unwrap();
        let header = |user: &str, password: &str| {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
        };
        assert!(config.requires_auth());
        assert!(config.authorized(Some(&header("alice", "s3cret"))));
        assert!(!config.authorized(Some(&header("alice", "wrong"))));
        assert!(!config.authorized(Some(&header("bob", "s3cret"))));
        assert!(!config.authorized(Some("Bearer x")) && !config.authorized(None));
        assert_eq!(config.verified.lock().len(), 4, "each value is checked once");
        assert!(WebConfig::parse("", Path::new(".")).unwrap().tls.is_none());
    }
}
