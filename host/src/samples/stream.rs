//! A JSON samples file read as a stream, straight into the columns that cross the
//! boundary: each request's fields are checked and pushed into the [`Batch`] as they are
//! read, with no tree of values, no owned request and no whole-file text in between, so
//! a generated batch of millions of requests costs its columns, not its text.
//!
//! It accepts exactly what [`super::parse`] accepts from a JSON file (the same fields,
//! defaults and checks; unknown and repeated keys are errors); an error names the file,
//! line and column (`samples.json:7:31: …`). The caller reads a small file that fails
//! here again with [`super::parse`], for the messages `patrol` has always given.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{
    Auth, Batch, CertIn, ConnectionIn, ContextIn, Request, Samples, Scheme, convert_connection,
    convert_context, empty_context, parse_ip,
};

/// Reads the samples file at `path`: a JSON one (its first non-blank byte is `{`) as a
/// stream of up to [`MAX_SAMPLES_BYTES`], anything else (YAML) whole, up to
/// [`MAX_FILE_BYTES`]. Errors name the file.
///
/// [`MAX_SAMPLES_BYTES`]: crate::confine::MAX_SAMPLES_BYTES
/// [`MAX_FILE_BYTES`]: crate::confine::MAX_FILE_BYTES
pub fn read_file(path: &Path) -> Result<Samples, String> {
    read_file_up_to(
        path,
        crate::confine::MAX_SAMPLES_BYTES,
        crate::confine::MAX_FILE_BYTES,
    )
}

/// [`read_file`] with other bounds (for tests): `max_json` for a streamed JSON file,
/// `max_whole` for one read whole.
pub fn read_file_up_to(path: &Path, max_json: u64, max_whole: u64) -> Result<Samples, String> {
    let file = path.display().to_string();
    let cannot = |why: String| format!("cannot read `{file}`: {why}");
    let (handle, len) = crate::confine::open_regular_up_to(path, max_json.max(max_whole))
        .map_err(|e| cannot(e.to_string()))?;
    let mut reader = BufReader::with_capacity(
        1 << 16,
        crate::confine::Bounded::new(handle, max_json.max(max_whole)),
    );
    let json = starts_with_brace(&mut reader).map_err(|e| cannot(e.to_string()))?;
    if json {
        match read(reader, &file) {
            Ok(samples) => return Ok(samples),
            // A small file is read again the way it always was, for the same messages
            // (its line, the key in the path); a large one only streams.
            Err(e) if len > max_whole => return Err(e),
            Err(_) => {}
        }
    } else if len > max_whole {
        return Err(cannot(format!(
            "larger than {} MiB, the most patrol reads (a samples file larger than that must \
             be JSON, read as a stream of up to {} MiB)",
            max_whole >> 20,
            max_json >> 20
        )));
    }
    let bytes =
        crate::confine::read_regular_up_to(path, max_whole).map_err(|e| cannot(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        cannot(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    super::parse(&text, &file)
}

/// Whether the first byte past ASCII blanks is `{` (consumes the blanks only).
fn starts_with_brace<R: BufRead>(reader: &mut R) -> std::io::Result<bool> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(false);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let brace = buf[i] == b'{';
                reader.consume(i);
                return Ok(brace);
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

/// Reads the samples of a JSON document from `reader`; `file` names it in errors.
pub fn read<R: Read>(reader: R, file: &str) -> Result<Samples, String> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut out = Out::default();
    FileSeed { out: &mut out }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| located(file, &e))?;
    Ok(Samples {
        context: out.context.unwrap_or_else(empty_context),
        requests: out.requests.finish(),
        request_names: out.request_names,
        connections: out.connections,
    })
}

/// `file:line:column: message`, the message without serde_json's own position.
fn located(file: &str, e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    if e.line() == 0 {
        return format!("{file}: {message}");
    }
    format!("{file}:{}:{}: {message}", e.line(), e.column())
}

#[derive(Default)]
struct Out {
    context: Option<crate::wit::Context>,
    requests: Batch,
    request_names: Vec<Option<String>>,
    connections: Vec<crate::wit::Connection>,
}

/// The top-level object: `context`, `requests`, `connections`, each at most once.
struct FileSeed<'a> {
    out: &'a mut Out,
}

impl<'de> DeserializeSeed<'de> for FileSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FileSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a samples object with `context`, `requests`, `connections`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut context, mut requests, mut connections) = (false, false, false);
        while let Some(key) = map.next_key::<TopKey>()? {
            let seen = match key {
                TopKey::Context => &mut context,
                TopKey::Requests => &mut requests,
                TopKey::Connections => &mut connections,
            };
            if std::mem::replace(seen, true) {
                return Err(de::Error::custom(format_args!(
                    "duplicate field `{}`",
                    key.name()
                )));
            }
            match key {
                TopKey::Context => {
                    if let Some(c) = map.next_value::<Option<ContextIn>>()? {
                        let c = convert_context(c).map_err(|(_, m)| de::Error::custom(m))?;
                        self.out.context = Some(c);
                    }
                }
                TopKey::Requests => map.next_value_seed(RequestsSeed { out: self.out })?,
                TopKey::Connections => {
                    map.next_value_seed(ConnectionsSeed { out: self.out })?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, serde::Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum TopKey {
    Context,
    Requests,
    Connections,
}

impl TopKey {
    fn name(self) -> &'static str {
        match self {
            TopKey::Context => "context",
            TopKey::Requests => "requests",
            TopKey::Connections => "connections",
        }
    }
}

/// The `requests` array, each request pushed into the batch as soon as it is read.
struct RequestsSeed<'a> {
    out: &'a mut Out,
}

impl<'de> DeserializeSeed<'de> for RequestsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RequestsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of requests")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // The texts of one request, reused from request to request (no allocation per
        // request once they have grown to the longest).
        let mut fields = Fields::default();
        while seq
            .next_element_seed(RequestSeed {
                fields: &mut fields,
            })?
            .is_some()
        {
            let f = &mut fields;
            let source = parse_ip(&f.source).map_err(de::Error::custom)?;
            if f.path.is_empty() {
                return Err(de::Error::custom("`path` must not be empty"));
            }
            let auth = match f.auth {
                AuthRead::None => Auth::None,
                AuthRead::Valid => Auth::Valid,
                AuthRead::Invalid => Auth::Invalid,
                AuthRead::Basic => Auth::Basic {
                    username: &f.username,
                    password: &f.password,
                },
            };
            self.out.requests.push(&Request {
                source,
                method: if f.method_given { &f.method } else { "GET" },
                path: &f.path,
                https: f.scheme.map(|s| matches!(s, Scheme::Https)),
                auth,
                client_cert: match f.client_cert {
                    CertIn::None => None,
                    CertIn::Trusted => Some(true),
                    CertIn::Untrusted => Some(false),
                },
            });
            self.out.request_names.push(f.name.take());
        }
        Ok(())
    }
}

/// One request as read: the texts in reused buffers.
#[derive(Default)]
struct Fields {
    name: Option<String>,
    source: String,
    method: String,
    method_given: bool,
    path: String,
    scheme: Option<Scheme>,
    auth: AuthRead,
    username: String,
    password: String,
    client_cert: CertIn,
}

#[derive(Default, Clone, Copy)]
enum AuthRead {
    #[default]
    None,
    Valid,
    Invalid,
    Basic,
}

#[derive(Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum RequestKey {
    Name,
    Source,
    Method,
    Path,
    Scheme,
    Auth,
    ClientCert,
}

impl RequestKey {
    fn name(self) -> &'static str {
        match self {
            RequestKey::Name => "name",
            RequestKey::Source => "source",
            RequestKey::Method => "method",
            RequestKey::Path => "path",
            RequestKey::Scheme => "scheme",
            RequestKey::Auth => "auth",
            RequestKey::ClientCert => "client_cert",
        }
    }
}

struct RequestSeed<'a> {
    fields: &'a mut Fields,
}

impl<'de> DeserializeSeed<'de> for RequestSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a request: `source`, `method`, `path`, …")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let f = self.fields;
        f.name = None;
        f.method_given = false;
        f.scheme = None;
        f.auth = AuthRead::None;
        f.client_cert = CertIn::None;
        let (mut source, mut path) = (false, false);
        let mut seen = [false; 7];
        while let Some(key) = map.next_key::<RequestKey>()? {
            if std::mem::replace(&mut seen[key as usize], true) {
                return Err(de::Error::custom(format_args!(
                    "duplicate field `{}`",
                    key.name()
                )));
            }
            match key {
                RequestKey::Name => f.name = map.next_value()?,
                RequestKey::Source => {
                    map.next_value_seed(Text(&mut f.source))?;
                    source = true;
                }
                RequestKey::Method => {
                    map.next_value_seed(Text(&mut f.method))?;
                    f.method_given = true;
                }
                RequestKey::Path => {
                    map.next_value_seed(Text(&mut f.path))?;
                    path = true;
                }
                RequestKey::Scheme => f.scheme = map.next_value()?,
                RequestKey::Auth => {
                    f.auth = map.next_value_seed(AuthSeed {
                        username: &mut f.username,
                        password: &mut f.password,
                    })?;
                }
                RequestKey::ClientCert => f.client_cert = map.next_value()?,
            }
        }
        if !source {
            return Err(de::Error::missing_field("source"));
        }
        if !path {
            return Err(de::Error::missing_field("path"));
        }
        Ok(())
    }
}

/// A string copied into a reused buffer.
struct Text<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for Text<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.clear();
        self.0.push_str(v);
        Ok(())
    }
}

const WANTED_AUTH: &str = "must be `none`, `valid`, `invalid` or `{username: …, password: …}`";

/// `auth`: a keyword, or credentials copied into reused buffers.
struct AuthSeed<'a> {
    username: &'a mut String,
    password: &'a mut String,
}

impl<'de> DeserializeSeed<'de> for AuthSeed<'_> {
    type Value = AuthRead;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<AuthRead, D::Error> {
        d.deserialize_any(self)
    }
}

#[derive(Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum CredentialKey {
    Username,
    Password,
}

impl<'de> Visitor<'de> for AuthSeed<'_> {
    type Value = AuthRead;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(WANTED_AUTH)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<AuthRead, E> {
        match v {
            "none" => Ok(AuthRead::None),
            "valid" => Ok(AuthRead::Valid),
            "invalid" => Ok(AuthRead::Invalid),
            _ => Err(E::custom(WANTED_AUTH)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AuthRead, A::Error> {
        let (mut user, mut pass) = (false, false);
        while let Some(key) = map.next_key::<CredentialKey>()? {
            let (seen, buf, name) = match key {
                CredentialKey::Username => (&mut user, &mut *self.username, "username"),
                CredentialKey::Password => (&mut pass, &mut *self.password, "password"),
            };
            if std::mem::replace(seen, true) {
                return Err(de::Error::custom(format_args!(
                    "{WANTED_AUTH}: duplicate field `{name}`"
                )));
            }
            map.next_value_seed(Text(buf))?;
        }
        for (given, name) in [(user, "username"), (pass, "password")] {
            if !given {
                return Err(de::Error::custom(format_args!(
                    "{WANTED_AUTH}: missing field `{name}`"
                )));
            }
        }
        Ok(AuthRead::Basic)
    }
}

/// The `connections` array, each converted as it is read.
struct ConnectionsSeed<'a> {
    out: &'a mut Out,
}

impl<'de> DeserializeSeed<'de> for ConnectionsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ConnectionsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of connections")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(c) = seq.next_element::<ConnectionIn>()? {
            let c = convert_connection(c).map_err(|(_, m)| de::Error::custom(m))?;
            self.out.connections.push(c);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
