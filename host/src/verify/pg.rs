//! The PostgreSQL and PgBouncer probes: for each (user, database, ssl, replication) the
//! samples name, one connection that sends the startup packet (after an `SSLRequest` and
//! a TLS handshake when the sample says `ssl: true`), reads the server's first answer —
//! the authentication request (`AuthenticationSASL`, `…MD5Password`, …) or the error
//! (`no pg_hba.conf entry …`) — and closes. No password is ever sent. An
//! `AuthenticationOk` means the server opened a session without a password (`trust`):
//! the connection is closed at once, nothing else sent, and the record says so.

use std::io::{Read, Write};
use std::net::IpAddr;

use super::endpoints::Endpoint;
use super::net::{self, Pacer, ReadWrite};
use super::{Live, ProbeRecord};

/// One connection attempt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    pub user: String,
    pub database: String,
    pub ssl: bool,
    /// `false`, `true` (physical) or `database` (logical).
    pub replication: String,
}

impl Attempt {
    pub fn label(&self) -> String {
        let repl = match self.replication.as_str() {
            "false" => String::new(),
            r => format!(", replication={r}"),
        };
        format!(
            "startup user={} database={} {}{repl}",
            self.user,
            self.database,
            if self.ssl { "over SSL" } else { "without SSL" }
        )
    }
}

/// The server's first answer to a startup packet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum PgAnswer {
    /// An authentication request: the method's name as pg_hba.conf spells it (`trust`
    /// for AuthenticationOk).
    Method { method: String },
    /// An ErrorResponse.
    Error { sqlstate: String, message: String },
    /// `N` to the SSLRequest.
    SslRefused,
}

impl PgAnswer {
    /// The method this answer shows (`reject`, `peer`, … from their errors); none for
    /// "no pg_hba.conf entry" and other errors.
    pub fn method(&self) -> Option<&str> {
        match self {
            PgAnswer::Method { method } => Some(method),
            PgAnswer::Error { message, .. } => {
                let m = message.to_ascii_lowercase();
                if m.starts_with("pg_hba.conf rejects") {
                    Some("reject")
                } else if m.starts_with("peer authentication failed") {
                    Some("peer")
                } else if m.starts_with("ident authentication failed") {
                    Some("ident")
                } else if m.starts_with("certificate authentication failed")
                    || m.contains("requires a valid client certificate")
                {
                    Some("cert")
                } else {
                    None
                }
            }
            PgAnswer::SslRefused => None,
        }
    }

    pub fn no_entry(&self) -> bool {
        matches!(self, PgAnswer::Error { message, .. } if message.starts_with("no pg_hba.conf entry"))
    }

    pub fn describe(&self) -> String {
        match self {
            PgAnswer::Method { method } if method == "trust" => {
                "AuthenticationOk without a password (trust): a session was opened, and closed at once".into()
            }
            PgAnswer::Method { method } => format!("asked for `{method}`"),
            PgAnswer::Error { sqlstate, message } => format!("error {sqlstate} `{message}`"),
            PgAnswer::SslRefused => "refused SSL (`N` to the SSLRequest)".into(),
        }
    }
}

fn method_name(code: u32) -> String {
    match code {
        0 => "trust",
        2 => "kerberos",
        3 => "password",
        5 => "md5",
        7 => "gss",
        9 => "sspi",
        10 => "scram-sha-256",
        _ => return format!("authentication code {code}"),
    }
    .to_string()
}

/// The startup packet (protocol 3.0).
pub fn startup_packet(a: &Attempt) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    let mut param = |k: &str, v: &str| {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    };
    param("user", &a.user);
    param("database", &a.database);
    if a.replication != "false" {
        param("replication", &a.replication);
    }
    param("application_name", "patrol-verify");
    body.push(0);
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// Reads the first message of the server and makes it an answer.
pub fn read_answer(stream: &mut dyn ReadWrite) -> Result<PgAnswer, String> {
    let mut head = [0u8; 5];
    stream
        .read_exact(&mut head)
        .map_err(|e| format!("no answer to the startup packet: {e}"))?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if !(4..=65_536).contains(&len) {
        return Err(format!("not a PostgreSQL answer (length {len})"));
    }
    let mut body = vec![0u8; len - 4];
    stream
        .read_exact(&mut body)
        .map_err(|e| format!("the answer was cut short: {e}"))?;
    match head[0] {
        b'R' if body.len() >= 4 => Ok(PgAnswer::Method {
            method: method_name(u32::from_be_bytes([body[0], body[1], body[2], body[3]])),
        }),
        b'E' => {
            let (mut sqlstate, mut message) = (String::new(), String::new());
            for field in body.split(|&b| b == 0).filter(|f| !f.is_empty()) {
                let text = String::from_utf8_lossy(&field[1..]).into_owned();
                match field[0] {
                    b'C' => sqlstate = text,
                    b'M' => message = text,
                    _ => {}
                }
            }
            Ok(PgAnswer::Error { sqlstate, message })
        }
        other => Err(format!(
            "not a PostgreSQL answer (message type {:?})",
            other as char
        )),
    }
}

/// Sends one attempt to one endpoint.
pub fn run(index: usize, ep: &Endpoint, pacer: &mut Pacer, a: &Attempt) -> ProbeRecord {
    let mut record = ProbeRecord::new(index, a.label(), false);
    let (source, live) = attempt(ep, pacer, a);
    record.sent = !matches!(live, Live::NotSent(_));
    record.source = source;
    record.live = live;
    record
}

fn attempt(ep: &Endpoint, pacer: &mut Pacer, a: &Attempt) -> (Option<IpAddr>, Live) {
    let mut tcp = match net::connect(pacer, &ep.host, ep.port) {
        Ok(s) => s,
        Err(e) if e.starts_with("not sent") => return (None, Live::NotSent(e)),
        Err(e) => return (None, Live::Unreachable(e)),
    };
    let source = net::source(&tcp);
    let result = (|| -> Result<PgAnswer, Live> {
        if !a.ssl {
            tcp.write_all(&startup_packet(a))
                .map_err(|e| Live::Unreachable(format!("sending failed: {e}")))?;
            return read_answer(&mut tcp).map_err(Live::Unreachable);
        }
        let mut request = 8u32.to_be_bytes().to_vec();
        request.extend(80_877_103u32.to_be_bytes());
        tcp.write_all(&request)
            .map_err(|e| Live::Unreachable(format!("sending failed: {e}")))?;
        let mut reply = [0u8; 1];
        tcp.read_exact(&mut reply)
            .map_err(|e| Live::Unreachable(format!("no answer to the SSLRequest: {e}")))?;
        if reply[0] != b'S' {
            return Ok(PgAnswer::SslRefused);
        }
        let (mut tls, _) = net::tls(
            tcp.try_clone()
                .map_err(|e| Live::Unreachable(e.to_string()))?,
            &ep.host,
            None,
        )
        .map_err(Live::TlsError)?;
        tls.write_all(&startup_packet(a))
            .and_then(|()| tls.flush())
            .map_err(|e| Live::TlsError(format!("sending failed: {e}")))?;
        read_answer(&mut tls).map_err(Live::TlsError)
    })();
    // Closed here (dropped) before any password: nothing more is sent.
    drop(tcp);
    (
        source,
        match result {
            Ok(answer) => Live::Pg(answer),
            Err(live) => live,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_startup_packet_is_well_formed() {
        let a = Attempt {
            user: "app".into(),
            database: "db".into(),
            ssl: false,
            replication: "false".into(),
        };
        let p = startup_packet(&a);
        assert_eq!(
            u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize,
            p.len()
        );
        assert_eq!(&p[4..8], &196_608u32.to_be_bytes());
        assert!(p.ends_with(b"patrol-verify\0\0"));
    }

    #[test]
    fn answers_read() {
        let mut r = std::io::Cursor::new(b"R\0\0\0\x08\0\0\0\x0a".to_vec());
        assert_eq!(read_answer(&mut r).unwrap().method(), Some("scram-sha-256"));
        let mut e = b"E\0\0\0\0SFATAL\0C28000\0Mno pg_hba.conf entry for host\0\0".to_vec();
        let len = (e.len() - 1) as u32;
        e[1..5].copy_from_slice(&len.to_be_bytes());
        let a = read_answer(&mut std::io::Cursor::new(e)).unwrap();
        assert!(a.no_entry() && a.method().is_none());
        assert!(read_answer(&mut std::io::Cursor::new(b"HTTP/1.1 400".to_vec())).is_err());
    }
}
