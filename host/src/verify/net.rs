//! The wire under `patrol verify`: a pacer (at most one connection per `--interval-ms`,
//! nothing after the `--max-time` deadline), TCP connections with timeouts, TLS with
//! rustls (the server's certificate is recorded, not trusted: verify compares what is
//! served with the files, it does not authenticate the server; a client certificate only
//! from the files the user names), and one bounded HTTP/1.1 exchange per connection.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

/// At most this much of an answer is read (a Patroni `/cluster` of a big cluster fits).
pub const MAX_ANSWER: usize = 256 * 1024;

/// Spaces connections out and stops them at the deadline.
#[derive(Debug)]
pub struct Pacer {
    pub gap: Duration,
    pub deadline: Instant,
    pub timeout: Duration,
    last: Option<Instant>,
    pub sent: usize,
}

impl Pacer {
    pub fn new(gap: Duration, total: Duration, timeout: Duration) -> Pacer {
        Pacer {
            gap,
            deadline: Instant::now() + total,
            timeout,
            last: None,
            sent: 0,
        }
    }

    /// Waits for the next slot; an error once the total time is spent.
    pub fn slot(&mut self) -> Result<(), String> {
        if let Some(last) = self.last {
            let next = last + self.gap;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
        if Instant::now() >= self.deadline {
            return Err("not sent: the total time bound (`--max-time`) is spent".into());
        }
        self.last = Some(Instant::now());
        self.sent += 1;
        Ok(())
    }

    /// The timeout of one step, never past the deadline.
    fn step(&self) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        self.timeout.min(left).max(Duration::from_millis(10))
    }
}

/// Connects to `host:port` (every address the name resolves to, in turn).
pub fn connect(pacer: &mut Pacer, host: &str, port: u16) -> Result<TcpStream, String> {
    pacer.slot()?;
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .collect();
    let mut last = format!("`{host}` resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, pacer.step()) {
            Ok(s) => {
                let t = Some(pacer.step());
                s.set_read_timeout(t).map_err(|e| e.to_string())?;
                s.set_write_timeout(t).map_err(|e| e.to_string())?;
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// The address this machine's side of a connection has: the source the server sees.
pub fn source(stream: &TcpStream) -> Option<IpAddr> {
    stream.local_addr().ok().map(|a| a.ip())
}

/// A client certificate and key from the files the user named.
#[derive(Debug, Clone)]
pub struct ClientCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
}

impl ClientCert {
    pub fn load(cert: &std::path::Path, key: &std::path::Path) -> Result<ClientCert, String> {
        use rustls::pki_types::pem::PemObject;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| format!("cannot read `{}`: {e}", cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("`{}` is not a PEM certificate: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("`{}` holds no certificate", cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("`{}` is not a PEM private key: {e}", key.display()))?;
        Ok(ClientCert {
            chain,
            key: Arc::new(key),
        })
    }
}

/// Accepts any server certificate and keeps it: verify reports what the server serves.
#[derive(Debug)]
struct Recorder(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS stream over TCP.
pub type Tls = StreamOwned<ClientConnection, TcpStream>;

/// Runs the TLS handshake (with the client certificate, if given); returns the stream
/// and the server's certificate chain (DER, leaf first).
pub fn tls(
    tcp: TcpStream,
    host: &str,
    cert: Option<&ClientCert>,
) -> Result<(Tls, Vec<Vec<u8>>), String> {
    // ring, not aws-lc-rs: ring is already in the build (certificates); its provider is
    // deprecated only for lacking post-quantum key exchange, which these probes do not need.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Recorder(provider)));
    let config = match cert {
        Some(c) => builder
            .with_client_auth_cert(c.chain.clone(), c.key.clone_key())
            .map_err(|e| format!("the client certificate cannot be used: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    let name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?,
    };
    let conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut stream = StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
    }
    let chain = stream
        .conn
        .peer_certificates()
        .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
        .unwrap_or_default();
    Ok((stream, chain))
}

/// An HTTP answer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Answer {
    pub status: u16,
    /// The body's first 4 KiB, for reports.
    pub body: String,
    /// The whole body as read (at most [`MAX_ANSWER`]), for `GET /config`.
    #[serde(skip)]
    pub body_full: String,
}

/// Sends one request (no `Authorization` header, ever) and reads the answer.
pub fn http(
    stream: &mut dyn ReadWrite,
    host: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Answer, String> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: patrol-verify\r\nAccept: */*\r\nConnection: close\r\n"
    );
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    stream
        .write_all(req.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| format!("sending failed: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() >= MAX_ANSWER {
                    break;
                }
            }
            // A TLS peer that closes without close_notify still sent its whole answer.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !buf.is_empty() => break,
            Err(e) => {
                if buf.is_empty() {
                    return Err(format!("no answer: {e}"));
                }
                break;
            }
        }
    }
    parse_answer(&buf)
}

/// Reads the status line and the body of an HTTP/1.x answer.
pub fn parse_answer(buf: &[u8]) -> Result<Answer, String> {
    let text = String::from_utf8_lossy(buf);
    let status_line = text.lines().next().unwrap_or("");
    let mut words = status_line.split_whitespace();
    let version = words.next().unwrap_or("");
    let status = words.next().and_then(|s| s.parse::<u16>().ok());
    let (true, Some(status)) = (version.starts_with("HTTP/"), status) else {
        return Err(format!(
            "not an HTTP answer: `{}`",
            status_line.chars().take(80).collect::<String>()
        ));
    };
    let body_full: String = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    let body = body_full.chars().take(4096).collect();
    Ok(Answer {
        status,
        body,
        body_full,
    })
}

/// What an HTTP exchange runs over: TCP or TLS.
pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        let a =
            parse_answer(b"HTTP/1.0 403 Forbidden\r\nServer: x\r\n\r\nAccess is denied").unwrap();
        assert_eq!((a.status, a.body.as_str()), (403, "Access is denied"));
        assert!(parse_answer(b"\x15\x03\x01").is_err());
    }

    #[test]
    fn the_pacer_stops_at_the_deadline() {
        let mut p = Pacer::new(
            Duration::from_millis(1),
            Duration::ZERO,
            Duration::from_secs(1),
        );
        assert!(p.slot().unwrap_err().contains("--max-time"));
        let mut p = Pacer::new(
            Duration::from_millis(20),
            Duration::from_secs(5),
            Duration::from_secs(1),
        );
        let t = Instant::now();
        p.slot().unwrap();
        p.slot().unwrap();
        assert!(t.elapsed() >= Duration::from_millis(20));
    }
}
