//! The one TLS client configuration, for the gateway's `https://` upstreams and for the
//! requests `corsguard audit` and `corsguard explain URL` send: the platform's root
//! certificates (plus, on request, a development CA), rustls' safe protocol versions, and
//! HTTP/1.1 offered by ALPN (all of them speak HTTP/1.1 to the server).
#![warn(missing_docs)]

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_rustls::TlsConnector;

/// A TLS connector that verifies servers against the platform's root certificates. An
/// unparsable certificate in the store is skipped; an empty store is an error, since nothing
/// could be verified.
pub fn connector() -> Result<TlsConnector, String> {
    connector_with(None)
}

/// [`connector`], also trusting the certificate authorities in the PEM file `extra_ca` (a
/// development CA, such as mkcert's). With an extra CA, an empty platform store is no error.
pub fn connector_with(extra_ca: Option<&Path>) -> Result<TlsConnector, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
    if let Some(path) = extra_ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("the CA file {} holds no PEM certificate", path.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| format!("the CA file {}: {e}", path.display()))?;
        }
    }
    if roots.is_empty() {
        let why = found.errors.first().map(|e| format!(": {e}")).unwrap_or_default();
        return Err(format!("no root certificates found in the platform's store{why}"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}
