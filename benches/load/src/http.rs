//! One keep-alive HTTP/1.1 connection per worker, a cookie jar that keeps
//! `Secure` cookies over plain http (the bench talks to loopback), and the
//! few parsers the flows need (forms, Location queries, hidden inputs).

use std::net::SocketAddr;

use anyhow::{Context as _, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where one OP listens and what it is called in `Host`.
#[derive(Clone, Debug)]
pub struct Origin {
    /// Socket to connect to (loopback only).
    pub addr: SocketAddr,
    /// `Host` header value, matching the issuer (`localhost:PORT`).
    pub host: String,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: Bytes,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("not JSON ({}): {}", self.status, short(&self.text())))
    }

    /// Fails unless the status is `want`, quoting the body.
    pub fn expect(self, want: u16, what: &str) -> Result<Self> {
        if self.status != want {
            bail!(
                "{what}: status {} (wanted {want}), location {:?}, body {}",
                self.status,
                self.location,
                short(&self.text())
            );
        }
        Ok(self)
    }
}

pub fn short(text: &str) -> String {
    text.chars().take(300).collect()
}

/// A request as the flows build it.
pub struct Req<'a> {
    pub method: Method,
    pub path: &'a str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl<'a> Req<'a> {
    pub fn get(path: &'a str) -> Self {
        Self {
            method: Method::GET,
            path,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    pub fn form(path: &'a str, fields: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        Self {
            method: Method::POST,
            path,
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )],
            body: Bytes::from(body),
        }
    }

    pub fn json(path: &'a str, value: &serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            path,
            headers: vec![("content-type", "application/json".to_owned())],
            body: Bytes::from(value.to_string()),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds the jar's cookies, if any.
    pub fn cookies(self, jar: &Jar) -> Self {
        match jar.header() {
            Some(value) => self.header("cookie", value),
            None => self,
        }
    }
}

/// One connection, reopened when the server closed it between requests.
pub struct Conn {
    origin: Origin,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(origin: &Origin) -> Self {
        Self {
            origin: origin.clone(),
            sender: None,
        }
    }

    async fn open(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(self.origin.addr)
            .await
            .with_context(|| format!("connect {}", self.origin.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(self.sender.insert(sender))
    }

    /// Sends `req`; a connection the server closed while idle is reopened once.
    pub async fn send(&mut self, req: Req<'_>) -> Result<Resp> {
        let mut last = None;
        for _ in 0..2 {
            let mut builder = Request::builder()
                .method(req.method.clone())
                .uri(req.path)
                .header("host", &self.origin.host);
            for (name, value) in &req.headers {
                builder = builder.header(*name, value);
            }
            let request = builder.body(Full::new(req.body.clone()))?;
            let sender = match self.sender.as_mut() {
                Some(s) if !s.is_closed() => s,
                _ => self.open().await?,
            };
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            match sender.send_request(request).await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let body = body.collect().await?.to_bytes();
                    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
                    if header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
                        self.sender = None;
                    }
                    return Ok(Resp {
                        status: parts.status.as_u16(),
                        location: header("location").map(str::to_owned),
                        set_cookies: parts
                            .headers
                            .get_all("set-cookie")
                            .iter()
                            .filter_map(|v| v.to_str().ok().map(str::to_owned))
                            .collect(),
                        body,
                    });
                }
                Err(e) => {
                    self.sender = None;
                    last = Some(e);
                }
            }
        }
        Err(anyhow!("request {} failed: {last:?}", req.path))
    }
}

/// Cookies by name, whatever their `Secure`, `Path` or `Domain` say: each jar
/// belongs to one browser of one OP.
#[derive(Clone, Default, Debug)]
pub struct Jar(Vec<(String, String)>);

impl Jar {
    pub fn update(&mut self, resp: &Resp) {
        for line in &resp.set_cookies {
            let pair = line.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let name = name.trim().to_owned();
            let lower = line.to_ascii_lowercase();
            let gone = value.is_empty()
                || lower.contains("max-age=0")
                || lower.contains("expires=thu, 01 jan 1970");
            self.0.retain(|(n, _)| *n != name);
            if !gone {
                self.0.push((name, value.trim().to_owned()));
            }
        }
    }

    pub fn header(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        Some(
            self.0
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// Value of attribute `attr` of the tag containing `marker`.
pub fn attribute_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let key = format!("{attr}=\"");
    let from = tag.find(&key)? + key.len();
    let len = tag[from..].find('"')?;
    Some(
        tag[from..from + len]
            .replace("&#x2B;", "+")
            .replace("&#x2F;", "/")
            .replace("&#x3D;", "="),
    )
}

/// The hidden `csrf` input of a page.
pub fn csrf_input(html: &str) -> Result<String> {
    attribute_after(html, "name=\"csrf\"", "value")
        .ok_or_else(|| anyhow!("no csrf input in {}", short(html)))
}

/// The `<meta name="csrf-token">` of a page.
pub fn csrf_meta(html: &str) -> Result<String> {
    attribute_after(html, "name=\"csrf-token\"", "content")
        .ok_or_else(|| anyhow!("no csrf-token meta in {}", short(html)))
}

/// Query parameter `name` of a URL or path.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The path (with query) of `location` when it points at `origin`, else `None`.
pub fn local_path(location: &str, origin: &Origin) -> Option<String> {
    if location.starts_with('/') {
        return Some(location.to_owned());
    }
    let rest = location.strip_prefix("http://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    (authority == origin.host || authority == origin.addr.to_string()).then(|| format!("/{path}"))
}

/// Form-encodes pairs (for query strings).
pub fn encode(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}
