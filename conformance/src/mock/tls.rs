//! TLS for the mock: a certificate authority and a server certificate for `localhost` and
//! `127.0.0.1`, made fresh at every start (rcgen), so tests exercise real certificate checks:
//! a client that trusts the CA connects, one that does not fails its handshake.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// A CA (its PEM, for clients to trust) and the acceptor serving a certificate it signed.
pub(crate) struct Identity {
    pub ca_pem: String,
    pub acceptor: TlsAcceptor,
}

/// Makes a CA and a server certificate for `localhost` / `127.0.0.1`, and an acceptor offering
/// HTTP/2 over ALPN.
pub(crate) fn make() -> std::io::Result<Identity> {
    let fail = |e: &dyn std::fmt::Display| std::io::Error::other(format!("mock TLS identity: {e}"));
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| fail(&e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Zerobus mock CA (tests only)");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(|e| fail(&e))?;
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| fail(&e))?;

    let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(|e| fail(&e))?;
    leaf.distinguished_name.push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().map_err(|e| fail(&e))?;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).map_err(|e| fail(&e))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(&e))?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .map_err(|e| fail(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Identity { ca_pem: ca_cert.pem(), acceptor: TlsAcceptor::from(Arc::new(config)) })
}
