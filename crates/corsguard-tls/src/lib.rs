//! The one TLS client configuration, for the gateway's `https://` upstreams and for the
//! requests `corsguard audit` sends: the platform's root certificates, rustls' safe protocol
//! versions, and HTTP/1.1 offered by ALPN (both speak HTTP/1.1 to the server).
#![warn(missing_docs)]

use std::sync::Arc;

use tokio_rustls::TlsConnector;

/// A TLS connector that verifies servers against the platform's root certificates. An
/// unparsable certificate in the store is skipped; an empty store is an error, since nothing
/// could be verified.
pub fn connector() -> Result<TlsConnector, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
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
