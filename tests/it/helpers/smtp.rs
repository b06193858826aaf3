//! A real SMTP server on `127.0.0.1:0` for tests: it speaks enough RFC 5321
//! for lettre's client, keeps every message it accepts, and decodes subject
//! (RFC 2047) and body (RFC 2045 transfer encodings) so tests compare text.
//!
//! Plain TCP only: it advertises neither STARTTLS nor AUTH, so point Kagi at
//! it with [`SmtpServer::url`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How long [`SmtpServer::wait_for`] waits before failing the test.
const WAIT_LIMIT: Duration = Duration::from_secs(10);
/// How often [`SmtpServer::wait_for`] looks.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// One message as the server accepted it.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// Envelope sender (`MAIL FROM`), empty for the null sender.
    pub from: String,
    /// Envelope recipients (`RCPT TO`), in the order given.
    pub to: Vec<String>,
    /// The `Subject` header, unfolded and with RFC 2047 encoded words decoded.
    pub subject: String,
    /// The body after undoing its `Content-Transfer-Encoding`, with CRLF turned into LF.
    pub body: String,
    /// The message as received after `DATA`, dot-stuffing undone.
    pub raw: String,
}

type Inbox = Arc<Mutex<Vec<ReceivedMail>>>;

/// A running SMTP server; dropping it stops the server and its connections.
pub struct SmtpServer {
    /// The bound address.
    pub addr: SocketAddr,
    received: Inbox,
    task: JoinHandle<()>,
}

impl SmtpServer {
    /// Binds `127.0.0.1:0` and serves connections in a background task.
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test SMTP server");
        let addr = listener.local_addr().expect("test SMTP server address");
        let received = Inbox::default();
        let task = tokio::spawn(accept(listener, Arc::clone(&received)));
        SmtpServer {
            addr,
            received,
            task,
        }
    }

    /// `smtp://127.0.0.1:PORT`: plain SMTP, as `KAGI_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.addr.port())
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.received.lock().expect("SMTP inbox lock").clone()
    }

    /// Waits until at least `count` messages arrived for envelope recipient
    /// `to` and returns all of them in arrival order; panics after 10 s.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
        loop {
            let found: Vec<ReceivedMail> = self
                .messages()
                .into_iter()
                .filter(|m| m.to.iter().any(|r| r.eq_ignore_ascii_case(to)))
                .collect();
            if found.len() >= count {
                return found;
            }
            if tokio::time::Instant::now() >= deadline {
                let all: Vec<Vec<String>> = self.messages().into_iter().map(|m| m.to).collect();
                panic!(
                    "waited {WAIT_LIMIT:?} for {count} mail(s) to {to}, got {}; recipients of all received mail: {all:?}",
                    found.len()
                );
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, received: Inbox) {
    let mut connections = JoinSet::new();
    loop {
        // Reap finished sessions so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let received = Arc::clone(&received);
        connections.spawn(async move {
            // A client that hangs up mid-session is not the server's failure.
            let _ = session(stream, received).await;
        });
    }
}

/// The envelope of the message being received.
#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

async fn session(stream: TcpStream, received: Inbox) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(b"220 localhost Kagi test SMTP ready\r\n")
        .await?;
    let mut envelope = Envelope::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                envelope = Envelope::default();
                "250-localhost greets you\r\n250-8BITMIME\r\n250 HELP\r\n"
            }
            "HELO" => {
                envelope = Envelope::default();
                "250 localhost\r\n"
            }
            "MAIL" => match path(arg, "FROM:") {
                Some(from) => {
                    envelope = Envelope {
                        from: Some(from),
                        to: Vec::new(),
                    };
                    "250 2.1.0 OK\r\n"
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" if envelope.from.is_none() => "503 5.5.1 MAIL first\r\n",
            "RCPT" => match path(arg, "TO:") {
                Some(to) if !to.is_empty() => {
                    envelope.to.push(to);
                    "250 2.1.5 OK\r\n"
                }
                _ => "501 5.5.4 Syntax: RCPT TO:<address>\r\n",
            },
            "DATA" if envelope.to.is_empty() => "503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let raw = read_data(&mut reader).await?;
                let done = std::mem::take(&mut envelope);
                let mail = ReceivedMail::parse(done.from.unwrap_or_default(), done.to, raw);
                received.lock().expect("SMTP inbox lock").push(mail);
                "250 2.0.0 OK queued\r\n"
            }
            "RSET" => {
                envelope = Envelope::default();
                "250 2.0.0 OK\r\n"
            }
            "NOOP" => "250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 Command not recognised\r\n",
        };
        write.write_all(reply.as_bytes()).await?;
    }
}

/// The address in `FROM:<a@b> PARAM=...` (after `keyword`), or `None` when malformed.
fn path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_owned())
}

/// Reads the message after `354` up to the line `.`, undoing dot-stuffing.
///
/// The CRLF before the final `.` is dropped: lettre always sends
/// `<message>CRLF.CRLF`, so what remains is exactly what it formatted.
async fn read_data(reader: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<String> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
    if data.ends_with(b"\r\n") {
        data.truncate(data.len() - 2);
    }
    Ok(String::from_utf8_lossy(&data).into_owned())
}

impl ReceivedMail {
    fn parse(from: String, to: Vec<String>, raw: String) -> ReceivedMail {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
        let headers = unfold(head);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let subject = header("Subject").map(decode_words).unwrap_or_default();
        let encoding = header("Content-Transfer-Encoding").unwrap_or("7bit");
        let body = decode_body(body, encoding);
        ReceivedMail {
            from,
            to,
            subject,
            body,
            raw,
        }
    }
}

/// Header fields as (name, value), with folded lines joined (RFC 5322 §2.2.3:
/// only the CRLF goes, the whitespace stays).
fn unfold(head: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim_start().to_owned()));
        }
    }
    fields
}

/// Decodes RFC 2047 encoded words (`=?charset?B|Q?text?=`) in a header value.
///
/// Whitespace between two adjacent encoded words is dropped (RFC 2047 §6.2),
/// and their bytes are joined before UTF-8 decoding, so a character split
/// across words still survives.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while !rest.is_empty() {
        let Some((bytes, after)) = encoded_word(rest) else {
            let mut chars = rest.chars();
            out.extend(chars.next());
            rest = chars.as_str();
            continue;
        };
        let mut joined = bytes;
        rest = after;
        loop {
            let trimmed = rest.trim_start_matches([' ', '\t']);
            match encoded_word(trimmed) {
                Some((more, after)) => {
                    joined.extend(more);
                    rest = after;
                }
                None => break,
            }
        }
        out.push_str(&String::from_utf8_lossy(&joined));
    }
    out
}

/// The decoded bytes of the encoded word that starts `s`, and what follows it.
fn encoded_word(s: &str) -> Option<(Vec<u8>, &str)> {
    let inner = s.strip_prefix("=?")?;
    let (_charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let (text, after) = inner.split_once("?=")?;
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "Q" | "q" => quoted_printable(&text.replace('_', " ")),
        _ => return None,
    };
    Some((bytes, after))
}

/// Undoes `Content-Transfer-Encoding` and turns CRLF into LF.
fn decode_body(body: &str, encoding: &str) -> String {
    let bytes = match encoding.trim().to_ascii_lowercase().as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .expect("the base64 body decodes")
        }
        "quoted-printable" => quoted_printable(body),
        // 7bit, 8bit and binary travel as they are.
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8_lossy(&bytes).replace("\r\n", "\n")
}

/// Decodes quoted-printable (RFC 2045 §6.7): `=XX` bytes and `=` soft line breaks.
fn quoted_printable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'=' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes[i + 1..].starts_with(b"\r\n") {
            i += 3;
        } else if bytes[i + 1..].starts_with(b"\n") {
            i += 2;
        } else if let Some(byte) = text
            .get(i + 1..i + 3)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(b'=');
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_split_inside_a_character_still_decode() {
        // "鍵" is E9 8D B5; split after its first byte across two words.
        let value = "=?utf-8?b?6Q==?=\r\n =?utf-8?Q?=8D=B5?= code";
        let unfolded = value.replace("\r\n", "");
        assert_eq!(decode_words(&unfolded), "鍵 code");
    }

    #[test]
    fn quoted_printable_soft_breaks_and_bytes_decode() {
        assert_eq!(
            decode_body("caf=C3=A9 =\r\nau lait\r\n", "quoted-printable"),
            "café au lait\n"
        );
    }
}
