//! Request samples: the columns they cross the boundary in, read one request at a time.
//!
//! A batch of 100,000 requests as records with strings would cost an allocation per
//! address, method and path on each side of the boundary, more than deciding them. So
//! `input.requests` is a [`RequestBatch`] of columns (numbers, and each distinct text or
//! address once), and [`RequestBatch::iter`] gives each request as a [`RequestSample`]
//! view: `sample.source()`, `sample.method()`, `sample.path()`…
//!
//! [`HttpRequest`] is one request as owned plain data: for asking a model about a request
//! no sample made (the calls HAProxy, patronictl or the members make), and for building a
//! batch in tests ([`RequestBatch::from_requests`]).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{Credentials, IpAddress, RequestBatch};

/// Credentials a simulated HTTP request carries.
#[derive(Debug, Clone)]
pub enum RequestAuth {
    /// No Authorization header.
    None,
    /// The configured username and password.
    Valid,
    /// A wrong Authorization header.
    Invalid,
    /// Exactly these credentials.
    Basic(Credentials),
}

/// The client certificate a sample presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertPresence {
    None,
    /// Signed by a CA the server trusts.
    Trusted,
    /// Not signed by a CA the server trusts.
    Untrusted,
}

/// The transport a sample names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

/// An HTTP call to the Patroni REST API, as owned plain data.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub name: Option<String>,
    /// The TCP peer address as the server sees it (IPv4 or IPv6 text).
    pub source: String,
    pub method: String,
    pub path: String,
    /// `http` or `https`; none: whatever the listener speaks.
    pub scheme: Option<String>,
    pub auth: RequestAuth,
    pub client_cert: CertPresence,
}

/// Request `index` of a [`RequestBatch`].
#[derive(Debug, Clone, Copy)]
pub struct RequestSample<'a> {
    batch: &'a RequestBatch,
    index: usize,
}

impl<'a> RequestSample<'a> {
    /// Its index in `input.requests` (what a decision names).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The peer address (`0.0.0.0` if the batch is malformed; the host never sends one).
    pub fn source(&self) -> IpAddr {
        self.batch.address(
            self.batch
                .sources
                .get(self.index)
                .copied()
                .unwrap_or(u32::MAX),
        )
    }

    /// The method (`GET`).
    pub fn method(&self) -> &'a str {
        self.batch.string(
            self.batch
                .methods
                .get(self.index)
                .copied()
                .unwrap_or(u32::MAX),
        )
    }

    /// The request target (`/primary`).
    pub fn path(&self) -> &'a str {
        self.batch.string(
            self.batch
                .paths
                .get(self.index)
                .copied()
                .unwrap_or(u32::MAX),
        )
    }

    /// The transport, when the sample names one.
    pub fn scheme(&self) -> Option<Scheme> {
        scheme(self.batch.schemes.get(self.index).copied().unwrap_or(0))
    }

    /// `http` or `https`, when the sample names one.
    pub fn scheme_str(&self) -> Option<&'static str> {
        self.scheme().map(|s| match s {
            Scheme::Http => "http",
            Scheme::Https => "https",
        })
    }

    /// The credentials it carries.
    pub fn auth(&self) -> RequestAuth {
        self.batch
            .auth(self.batch.auths.get(self.index).copied().unwrap_or(0))
    }

    /// The client certificate it presents.
    pub fn client_cert(&self) -> CertPresence {
        cert(
            self.batch
                .client_certs
                .get(self.index)
                .copied()
                .unwrap_or(0),
        )
    }

    /// The sample as an owned [`HttpRequest`].
    pub fn to_request(&self) -> HttpRequest {
        HttpRequest {
            name: None,
            source: self.source().to_string(),
            method: self.method().to_string(),
            path: self.path().to_string(),
            scheme: self.scheme_str().map(str::to_string),
            auth: self.auth(),
            client_cert: self.client_cert(),
        }
    }
}

/// The `schemes` code as a scheme.
pub fn scheme(code: u8) -> Option<Scheme> {
    match code {
        1 => Some(Scheme::Http),
        2 => Some(Scheme::Https),
        _ => None,
    }
}

/// The `client-certs` code as a certificate presence (an unknown code is untrusted).
pub fn cert(code: u8) -> CertPresence {
    match code {
        0 => CertPresence::None,
        1 => CertPresence::Trusted,
        _ => CertPresence::Untrusted,
    }
}

// The type comes from `wit-bindgen`, which cannot derive `Default` for one type only.
#[allow(clippy::derivable_impls)]
impl Default for RequestBatch {
    fn default() -> Self {
        RequestBatch {
            sources: Vec::new(),
            methods: Vec::new(),
            paths: Vec::new(),
            schemes: Vec::new(),
            auths: Vec::new(),
            client_certs: Vec::new(),
            addresses: Vec::new(),
            strings: Vec::new(),
            credentials: Vec::new(),
        }
    }
}

impl RequestBatch {
    /// The number of requests.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Request `index`.
    pub fn get(&self, index: usize) -> Option<RequestSample<'_>> {
        (index < self.len()).then_some(RequestSample { batch: self, index })
    }

    /// Every request, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RequestSample<'_>> + '_ {
        (0..self.len()).map(move |index| RequestSample { batch: self, index })
    }

    /// Entry `index` of `strings`; empty when out of range.
    pub fn string(&self, index: u32) -> &str {
        self.strings.get(index as usize).map_or("", String::as_str)
    }

    /// Entry `index` of `addresses`; `0.0.0.0` when out of range.
    pub fn address(&self, index: u32) -> IpAddr {
        self.addresses
            .get(index as usize)
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| (*a).into())
    }

    /// The `auths` code as credentials (an unknown code is a wrong header).
    pub fn auth(&self, code: u32) -> RequestAuth {
        match code {
            0 => RequestAuth::None,
            1 => RequestAuth::Valid,
            2 => RequestAuth::Invalid,
            n => self
                .credentials
                .get(n as usize - 3)
                .map_or(RequestAuth::Invalid, |c| RequestAuth::Basic(c.clone())),
        }
    }

    /// Builds a batch from owned requests, each text and address once: what the host
    /// does with a samples file. A source that is not an IP address, or a scheme other
    /// than `http`/`https`, is an error.
    pub fn from_requests(requests: &[HttpRequest]) -> Result<RequestBatch, String> {
        let mut b = RequestBatch::default();
        let mut strings: HashMap<String, u32> = HashMap::new();
        let mut addresses: HashMap<IpAddr, u32> = HashMap::new();
        let mut intern = |b: &mut RequestBatch, s: &str| -> u32 {
            *strings.entry(s.to_string()).or_insert_with(|| {
                b.strings.push(s.to_string());
                b.strings.len() as u32 - 1
            })
        };
        for r in requests {
            let ip: IpAddr = r
                .source
                .parse()
                .map_err(|_| format!("`{}` is not an IP address", r.source))?;
            let source = *addresses.entry(ip).or_insert_with(|| {
                b.addresses.push(ip.into());
                b.addresses.len() as u32 - 1
            });
            b.sources.push(source);
            let method = intern(&mut b, &r.method);
            b.methods.push(method);
            let path = intern(&mut b, &r.path);
            b.paths.push(path);
            b.schemes.push(match r.scheme.as_deref() {
                None => 0,
                Some("http") => 1,
                Some("https") => 2,
                Some(other) => return Err(format!("scheme `{other}` is neither http nor https")),
            });
            let auth = match &r.auth {
                RequestAuth::None => 0,
                RequestAuth::Valid => 1,
                RequestAuth::Invalid => 2,
                RequestAuth::Basic(c) => {
                    let known = b
                        .credentials
                        .iter()
                        .position(|k| k.username == c.username && k.password == c.password);
                    let i = known.unwrap_or_else(|| {
                        b.credentials.push(c.clone());
                        b.credentials.len() - 1
                    });
                    i as u32 + 3
                }
            };
            b.auths.push(auth);
            b.client_certs.push(match r.client_cert {
                CertPresence::None => 0,
                CertPresence::Trusted => 1,
                CertPresence::Untrusted => 2,
            });
        }
        Ok(b)
    }
}

impl From<IpAddress> for IpAddr {
    fn from(a: IpAddress) -> IpAddr {
        match a {
            IpAddress::V4(bits) => IpAddr::V4(Ipv4Addr::from(bits)),
            IpAddress::V6((hi, lo)) => {
                IpAddr::V6(Ipv6Addr::from(((hi as u128) << 64) | lo as u128))
            }
        }
    }
}

impl From<IpAddr> for IpAddress {
    fn from(a: IpAddr) -> IpAddress {
        match a {
            IpAddr::V4(v4) => IpAddress::V4(u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                IpAddress::V6(((bits >> 64) as u64, bits as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(source: &str, path: &str, auth: RequestAuth) -> HttpRequest {
        HttpRequest {
            name: None,
            source: source.into(),
            method: "GET".into(),
            path: path.into(),
            scheme: Some("https".into()),
            auth,
            client_cert: CertPresence::Trusted,
        }
    }

    #[test]
    fn addresses_round_trip() {
        for text in [
            "10.0.0.1",
            "::1",
            "2001:db8::ff:1",
            "::ffff:10.1.2.3",
            "255.255.255.255",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            let back: IpAddr = IpAddress::from(ip).into();
            assert_eq!(back, ip, "{text}");
        }
    }

    #[test]
    fn a_batch_reads_back_its_requests() {
        let basic = RequestAuth::Basic(Credentials {
            username: "u".into(),
            password: "p".into(),
        });
        let requests = [
            r("10.0.0.1", "/a", RequestAuth::None),
            r("::1", "/b", basic),
            r("10.0.0.1", "/a", RequestAuth::Invalid),
        ];
        let b = RequestBatch::from_requests(&requests).unwrap();
        assert_eq!(b.strings, ["GET", "/a", "/b"]);
        assert_eq!(b.addresses.len(), 2);
        for (s, want) in b.iter().zip(&requests) {
            let got = s.to_request();
            assert_eq!(
                (got.source, got.method, got.path, got.scheme),
                (
                    want.source.clone(),
                    want.method.clone(),
                    want.path.clone(),
                    want.scheme.clone()
                )
            );
            assert_eq!(format!("{:?}", got.auth), format!("{:?}", want.auth));
            assert_eq!(got.client_cert, want.client_cert);
        }
        assert!(RequestBatch::from_requests(&[r("local", "/", RequestAuth::None)]).is_err());
    }
}
