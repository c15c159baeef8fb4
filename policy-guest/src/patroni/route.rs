//! Which handler of Patroni's `RestApiHandler` a request reaches, and whether that
//! handler runs the access check.
//!
//! Routing follows `RestApiHandler.parse_request` over CPython's `http.server`: a path that
//! starts with `//` is collapsed to one `/` (gh-87389, in Debian's 3.11 too), `urlparse`
//! drops the query, the fragment and the last segment's `;params` (and reads `reload:x` as
//! a scheme), the first path segment picks `do_<METHOD>_<segment>` when it exists, else
//! `do_<METHOD>`, else the stdlib answers 501. Method and segment are case-sensitive and
//! nothing is percent-decoded. Routing borrows from the request: no allocation.

use super::version::Version;

/// A request handler of `RestApiHandler`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handler {
    Get,
    GetLiveness,
    GetReadiness,
    GetPatroni,
    GetCluster,
    GetHistory,
    GetConfig,
    GetMetrics,
    GetFailsafe,
    Head,
    Options,
    PatchConfig,
    PutConfig,
    PostReload,
    PostRestart,
    DeleteRestart,
    PostReinitialize,
    PostFailover,
    PostSwitchover,
    DeleteSwitchover,
    PostFailsafe,
    PostSigterm,
    PostCitus,
    PostMpp,
}

/// How a handler is guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Never checked (GET, HEAD, OPTIONS): only TLS `verify_client: required` stops it.
    Safe,
    /// Decorated with `@check_access`; `members`: the IP check also admits the cluster
    /// members when `allowlist_include_members` is on.
    Checked { members: bool },
    /// Changes state but has no `@check_access` (`POST /mpp` on 3.3.0 … 4.1.5).
    Unchecked,
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Handler(Handler),
    /// No `do_<METHOD>` either: `501 Unsupported method`, no access check.
    NotImplemented,
    /// The request line cannot be parsed (a path with white space, an empty path): 400.
    BadRequest,
}

/// `(method_segment name, handler, first release that has it)`.
const HANDLERS: &[(&str, Handler, Version)] = &[
    ("GET", Handler::Get, Version(0, 2, 0)),
    ("GET_liveness", Handler::GetLiveness, Version(2, 0, 0)),
    ("GET_readiness", Handler::GetReadiness, Version(2, 0, 0)),
    ("GET_patroni", Handler::GetPatroni, Version(0, 4, 0)),
    ("GET_cluster", Handler::GetCluster, Version(1, 6, 1)),
    ("GET_history", Handler::GetHistory, Version(1, 6, 1)),
    ("GET_config", Handler::GetConfig, Version(1, 0, 0)),
    ("GET_metrics", Handler::GetMetrics, Version(2, 1, 0)),
    ("GET_failsafe", Handler::GetFailsafe, Version(3, 0, 0)),
    ("HEAD", Handler::Head, Version(2, 1, 5)),
    ("OPTIONS", Handler::Options, Version(0, 7, 0)),
    ("PATCH_config", Handler::PatchConfig, Version(1, 0, 0)),
    ("PUT_config", Handler::PutConfig, Version(1, 0, 0)),
    ("POST_reload", Handler::PostReload, Version(1, 0, 0)),
    ("POST_restart", Handler::PostRestart, Version(0, 4, 0)),
    ("DELETE_restart", Handler::DeleteRestart, Version(1, 1, 0)),
    (
        "POST_reinitialize",
        Handler::PostReinitialize,
        Version(0, 4, 0),
    ),
    ("POST_failover", Handler::PostFailover, Version(0, 7, 0)),
    ("POST_switchover", Handler::PostSwitchover, Version(1, 4, 0)),
    (
        "DELETE_switchover",
        Handler::DeleteSwitchover,
        Version(2, 0, 0),
    ),
    ("POST_failsafe", Handler::PostFailsafe, Version(3, 0, 0)),
    ("POST_sigterm", Handler::PostSigterm, Version(2, 1, 5)),
    ("POST_citus", Handler::PostCitus, Version(3, 0, 0)),
    ("POST_mpp", Handler::PostMpp, Version(3, 3, 0)),
];

impl Handler {
    /// Every handler, for tables and tests.
    pub fn all() -> impl Iterator<Item = Handler> {
        HANDLERS.iter().map(|(_, h, _)| *h)
    }

    fn entry(self) -> &'static (&'static str, Handler, Version) {
        HANDLERS
            .iter()
            .find(|(_, h, _)| *h == self)
            .unwrap_or(&HANDLERS[0])
    }

    /// The Python method name without its `do_` prefix: `POST_reload`.
    pub fn python_name(self) -> &'static str {
        self.entry().0
    }

    /// The first release that has this handler.
    pub fn since(self) -> Version {
        match self {
            Handler::Get => Version(0, 2, 0),
            Handler::GetPatroni | Handler::PostRestart | Handler::PostReinitialize => {
                Version(0, 4, 0)
            }
            Handler::Options | Handler::PostFailover => Version(0, 7, 0),
            Handler::GetConfig
            | Handler::PatchConfig
            | Handler::PutConfig
            | Handler::PostReload => Version(1, 0, 0),
            Handler::DeleteRestart => Version(1, 1, 0),
            Handler::PostSwitchover => Version(1, 4, 0),
            Handler::GetCluster | Handler::GetHistory => Version(1, 6, 1),
            Handler::GetLiveness | Handler::GetReadiness | Handler::DeleteSwitchover => {
                Version(2, 0, 0)
            }
            Handler::GetMetrics => Version(2, 1, 0),
            Handler::Head | Handler::PostSigterm => Version(2, 1, 5),
            Handler::GetFailsafe | Handler::PostFailsafe | Handler::PostCitus => Version(3, 0, 0),
            Handler::PostMpp => Version(3, 3, 0),
        }
    }

    /// The request this handler serves, for messages: `POST /reload`, `GET /` (the
    /// catch-all also serves every unknown GET path).
    pub fn describe(self) -> &'static str {
        match self {
            Handler::Get => "GET (health check)",
            Handler::GetLiveness => "GET /liveness",
            Handler::GetReadiness => "GET /readiness",
            Handler::GetPatroni => "GET /patroni",
            Handler::GetCluster => "GET /cluster",
            Handler::GetHistory => "GET /history",
            Handler::GetConfig => "GET /config",
            Handler::GetMetrics => "GET /metrics",
            Handler::GetFailsafe => "GET /failsafe",
            Handler::Head => "HEAD",
            Handler::Options => "OPTIONS",
            Handler::PatchConfig => "PATCH /config",
            Handler::PutConfig => "PUT /config",
            Handler::PostReload => "POST /reload",
            Handler::PostRestart => "POST /restart",
            Handler::DeleteRestart => "DELETE /restart",
            Handler::PostReinitialize => "POST /reinitialize",
            Handler::PostFailover => "POST /failover",
            Handler::PostSwitchover => "POST /switchover",
            Handler::DeleteSwitchover => "DELETE /switchover",
            Handler::PostFailsafe => "POST /failsafe",
            Handler::PostSigterm => "POST /sigterm",
            Handler::PostCitus => "POST /citus",
            Handler::PostMpp => "POST /mpp",
        }
    }

    /// How the handler is guarded in `version`.
    pub fn guard(self, version: Version) -> Guard {
        match self {
            Handler::Get
            | Handler::GetLiveness
            | Handler::GetReadiness
            | Handler::GetPatroni
            | Handler::GetCluster
            | Handler::GetHistory
            | Handler::GetConfig
            | Handler::GetMetrics
            | Handler::GetFailsafe
            | Handler::Head
            | Handler::Options => Guard::Safe,
            Handler::PostMpp if version.mpp_unprotected() => Guard::Unchecked,
            Handler::PostFailsafe => Guard::Checked {
                members: !version.failsafe_skips_members(),
            },
            _ => Guard::Checked { members: true },
        }
    }
}

/// Routes `method path` as Patroni `version` does.
pub fn route(method: &str, path: &str, version: Version) -> Route {
    if path.is_empty() || method.is_empty() || path.bytes().chain(method.bytes()).any(is_space) {
        return Route::BadRequest;
    }
    let segment = first_segment(path);
    let found = lookup(method, segment, version).or_else(|| lookup(method, "", version));
    found.map_or(Route::NotImplemented, Route::Handler)
}

/// `str.split()` separators that can end up in a request line.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1f)
}

/// The handler called `<method>_<segment>` (or `<method>` for an empty segment).
fn lookup(method: &str, segment: &str, version: Version) -> Option<Handler> {
    let found = if method.contains('_') {
        // `GET_patroni / HTTP/1.0` names a handler too: compare the joined name.
        HANDLERS.iter().find_map(|(name, handler, _)| {
            let hit = if segment.is_empty() {
                *name == method
            } else {
                name.len() == method.len() + 1 + segment.len()
                    && name.starts_with(method)
                    && name.as_bytes()[method.len()] == b'_'
                    && name.ends_with(segment)
            };
            hit.then_some(*handler)
        })
    } else {
        direct(method, segment)
    };
    found.filter(|h| version >= h.since())
}

/// The common case without a table scan: the compiler turns these into length and
/// byte compares.
fn direct(method: &str, segment: &str) -> Option<Handler> {
    use Handler::*;
    Some(match (method, segment) {
        ("GET", "") => Get,
        ("GET", "liveness") => GetLiveness,
        ("GET", "readiness") => GetReadiness,
        ("GET", "patroni") => GetPatroni,
        ("GET", "cluster") => GetCluster,
        ("GET", "history") => GetHistory,
        ("GET", "config") => GetConfig,
        ("GET", "metrics") => GetMetrics,
        ("GET", "failsafe") => GetFailsafe,
        ("HEAD", "") => Head,
        ("OPTIONS", "") => Options,
        ("PATCH", "config") => PatchConfig,
        ("PUT", "config") => PutConfig,
        ("POST", "reload") => PostReload,
        ("POST", "restart") => PostRestart,
        ("DELETE", "restart") => DeleteRestart,
        ("POST", "reinitialize") => PostReinitialize,
        ("POST", "failover") => PostFailover,
        ("POST", "switchover") => PostSwitchover,
        ("DELETE", "switchover") => DeleteSwitchover,
        ("POST", "failsafe") => PostFailsafe,
        ("POST", "sigterm") => PostSigterm,
        ("POST", "citus") => PostCitus,
        ("POST", "mpp") => PostMpp,
        _ => return None,
    })
}

/// `urlparse(path).path.lstrip('/').split('/')[0]`, after the `//` collapse.
pub fn first_segment(path: &str) -> &str {
    if path.starts_with('/') {
        return origin_form_segment(path);
    }
    // Anything else goes the long way through urlsplit (scheme, netloc).
    let mut url = path.trim_start_matches(|c: char| c <= ' ');
    let mut scheme = "";
    if let Some(i) = url.find(':') {
        let head = &url[..i];
        if i > 0
            && head.as_bytes()[0].is_ascii_alphabetic()
            && head
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            scheme = head;
            url = &url[i + 1..];
        }
    }
    if let Some(rest) = url.strip_prefix("//") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        url = &rest[end..];
    }
    if let Some(i) = url.find('#') {
        url = &url[..i];
    }
    if let Some(i) = url.find('?') {
        url = &url[..i];
    }
    if uses_params(scheme) {
        // `_splitparams`: only the last segment's `;params` are split off.
        let from = url.rfind('/').unwrap_or(0);
        if let Some(i) = url[from..].find(';') {
            url = &url[..from + i];
        }
    }
    let url = url.trim_start_matches('/');
    url.split('/').next().unwrap_or("")
}

/// The same for a path that starts with `/` (every real request), in one pass: no scheme
/// or netloc can follow a leading `/` once `//` is collapsed, and a `;` ends the first
/// segment only when no `/` follows it (it is then the last segment's `;params`).
fn origin_form_segment(path: &str) -> &str {
    let seg = path.trim_start_matches('/');
    let bytes = seg.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' | b'?' | b'#' => return &seg[..i],
            b';' => {
                let later_slash =
                    bytes[i..].iter().find(|b| matches!(b, b'/' | b'?' | b'#')) == Some(&b'/');
                if !later_slash {
                    return &seg[..i];
                }
                let end = i + bytes[i..]
                    .iter()
                    .position(|b| *b == b'/')
                    .unwrap_or(bytes.len() - i);
                return &seg[..end];
            }
            _ => i += 1,
        }
    }
    seg
}

fn uses_params(scheme: &str) -> bool {
    const USES_PARAMS: &[&str] = &[
        "", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtspu", "sip",
        "sips", "mms", "sftp", "tel",
    ];
    USES_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V415: Version = Version(4, 1, 5);

    #[test]
    fn segments_like_urlparse() {
        let cases = [
            ("/", ""),
            ("/reload", "reload"),
            ("/reload/", "reload"),
            ("/reload/x", "reload"),
            ("//reload", "reload"),
            ("///reload", "reload"),
            ("/reload?x=1", "reload"),
            ("/reload#frag", "reload"),
            ("/reload;p", "reload"),
            ("/reload;p/x", "reload;p"),
            ("/a/reload;p", "a"),
            ("reload", "reload"),
            ("http://host:8008/reload", "reload"),
            ("https://host/", ""),
            ("reload:x", "x"),
            ("/%72eload", "%72eload"),
            ("*", "*"),
            ("/read-only", "read-only"),
            ("/a;p?x/y", "a"),
            ("/a;p#x", "a"),
            ("/a;p/b;q", "a;p"),
            ("//a;p", "a"),
            ("/", ""),
            ("/?x", ""),
        ];
        for (path, want) in cases {
            assert_eq!(first_segment(path), want, "{path:?}");
        }
    }

    /// Every row of the reference's endpoint table (§3), on 4.1.5.
    #[test]
    fn endpoint_table() {
        use Guard::*;
        use Handler::*;
        let checked = Checked { members: true };
        let rows: &[(&str, &str, Route, Option<Guard>)] = &[
            ("GET", "/", Route::Handler(Get), Some(Safe)),
            ("GET", "/primary", Route::Handler(Get), Some(Safe)),
            ("GET", "/read-only-sync", Route::Handler(Get), Some(Safe)),
            ("GET", "/standby_leader", Route::Handler(Get), Some(Safe)),
            ("GET", "/whatever", Route::Handler(Get), Some(Safe)),
            ("GET", "/reload", Route::Handler(Get), Some(Safe)),
            ("GET", "/liveness", Route::Handler(GetLiveness), Some(Safe)),
            (
                "GET",
                "/readiness",
                Route::Handler(GetReadiness),
                Some(Safe),
            ),
            ("GET", "/patroni", Route::Handler(GetPatroni), Some(Safe)),
            ("GET", "/cluster", Route::Handler(GetCluster), Some(Safe)),
            ("GET", "/history", Route::Handler(GetHistory), Some(Safe)),
            ("GET", "/config", Route::Handler(GetConfig), Some(Safe)),
            ("GET", "/metrics", Route::Handler(GetMetrics), Some(Safe)),
            ("GET", "/failsafe", Route::Handler(GetFailsafe), Some(Safe)),
            ("HEAD", "/liveness", Route::Handler(Head), Some(Safe)),
            ("OPTIONS", "/reload", Route::Handler(Options), Some(Safe)),
            (
                "PATCH",
                "/config",
                Route::Handler(PatchConfig),
                Some(checked),
            ),
            ("PUT", "/config", Route::Handler(PutConfig), Some(checked)),
            ("POST", "/reload", Route::Handler(PostReload), Some(checked)),
            (
                "POST",
                "/restart",
                Route::Handler(PostRestart),
                Some(checked),
            ),
            (
                "DELETE",
                "/restart",
                Route::Handler(DeleteRestart),
                Some(checked),
            ),
            (
                "POST",
                "/reinitialize",
                Route::Handler(PostReinitialize),
                Some(checked),
            ),
            (
                "POST",
                "/failover",
                Route::Handler(PostFailover),
                Some(checked),
            ),
            (
                "POST",
                "/switchover",
                Route::Handler(PostSwitchover),
                Some(checked),
            ),
            (
                "DELETE",
                "/switchover",
                Route::Handler(DeleteSwitchover),
                Some(checked),
            ),
            (
                "POST",
                "/failsafe",
                Route::Handler(PostFailsafe),
                Some(Checked { members: false }),
            ),
            (
                "POST",
                "/sigterm",
                Route::Handler(PostSigterm),
                Some(checked),
            ),
            ("POST", "/citus", Route::Handler(PostCitus), Some(checked)),
            ("POST", "/mpp", Route::Handler(PostMpp), Some(Unchecked)),
            (
                "POST",
                "//reload",
                Route::Handler(PostReload),
                Some(checked),
            ),
            (
                "POST",
                "/reload?force=1",
                Route::Handler(PostReload),
                Some(checked),
            ),
            ("PUT", "/reload", Route::NotImplemented, None),
            ("DELETE", "/config", Route::NotImplemented, None),
            ("POST", "/", Route::NotImplemented, None),
            ("POST", "/Reload", Route::NotImplemented, None),
            ("post", "/reload", Route::NotImplemented, None),
            ("TRACE", "/", Route::NotImplemented, None),
            ("GET_patroni", "/", Route::Handler(GetPatroni), Some(Safe)),
            (
                "POST_reload",
                "/",
                Route::Handler(PostReload),
                Some(checked),
            ),
            ("GET", "/a b", Route::BadRequest, None),
            ("GET", "", Route::BadRequest, None),
        ];
        for (method, path, want, guard) in rows {
            let got = route(method, path, V415);
            assert_eq!(got, *want, "{method} {path}");
            if let (Route::Handler(h), Some(g)) = (got, guard) {
                assert_eq!(h.guard(V415), *g, "{method} {path}");
            }
        }
    }

    /// The fast paths agree with the table of names and releases.
    #[test]
    fn fast_paths_match_the_table() {
        for (name, handler, since) in HANDLERS {
            assert_eq!(handler.since(), *since, "{name}");
            let (method, segment) = name.split_once('_').unwrap_or((name, ""));
            assert_eq!(direct(method, segment), Some(*handler), "{name}");
            assert_eq!(handler.python_name(), *name);
        }
    }

    #[test]
    fn version_differences() {
        assert_eq!(route("HEAD", "/", Version(2, 1, 4)), Route::NotImplemented);
        assert_eq!(
            route("HEAD", "/", Version(2, 1, 5)),
            Route::Handler(Handler::Head)
        );
        assert_eq!(
            route("POST", "/sigterm", Version(2, 1, 4)),
            Route::NotImplemented
        );
        assert_eq!(
            route("POST", "/failsafe", Version(2, 1, 7)),
            Route::NotImplemented
        );
        assert_eq!(
            route("GET", "/failsafe", Version(2, 1, 7)),
            Route::Handler(Handler::Get)
        );
        assert_eq!(
            route("POST", "/citus", Version(3, 0, 0)),
            Route::Handler(Handler::PostCitus)
        );
        assert_eq!(
            route("POST", "/mpp", Version(3, 2, 2)),
            Route::NotImplemented
        );
        assert_eq!(Handler::PostMpp.guard(Version(3, 3, 0)), Guard::Unchecked);
        assert_eq!(
            Handler::PostMpp.guard(Version(4, 2, 0)),
            Guard::Checked { members: true }
        );
        assert_eq!(
            Handler::PostFailsafe.guard(Version(3, 3, 2)),
            Guard::Checked { members: true }
        );
        assert_eq!(
            Handler::PostFailsafe.guard(Version(3, 3, 3)),
            Guard::Checked { members: false }
        );
        assert_eq!(
            route("DELETE", "/switchover", Version(1, 6, 5)),
            Route::NotImplemented
        );
        assert_eq!(
            route("POST", "/switchover", Version(1, 3, 0)),
            Route::NotImplemented
        );
    }
}
