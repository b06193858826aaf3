//! Outgoing mail end to end: `kagi::mail::Mailer` against the real SMTP
//! listener of the harness, and against the outbox folder.

use kagi::config::Config;
use kagi::mail::{Mailer, OutgoingMail};
use kagi::model::Email;

use crate::helpers::smtp::SmtpServer;

fn mailer(vars: &[(&str, String)]) -> Mailer {
    let vars = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let config = Config::from_sources(vars).expect("test config is valid");
    Mailer::from_config(&config).expect("mailer builds")
}

fn email(address: &str) -> Email {
    Email::parse(address).expect("test address is valid")
}

const SUBJECT: &str = "【鍵】ログイン確認コードのお知らせ";
const BODY: &str = "山田 太郎 様\n\nログイン確認コードは 482915 です。\n有効期限は10分です。\nお心当たりのない場合は、このメールを破棄してください。\n";

#[tokio::test]
async fn a_japanese_mail_arrives_intact_through_smtp() {
    let server = SmtpServer::start().await;
    let mailer = mailer(&[("KAGI_SMTP_URL", server.url())]);
    let mail = OutgoingMail {
        to: vec![email("taro@example.jp"), email("yamada.taro@example.com")],
        subject: SUBJECT.to_owned(),
        body: BODY.to_owned(),
    };

    mailer.send(&mail).await.expect("mail is sent");

    for recipient in ["taro@example.jp", "yamada.taro@example.com"] {
        let received = server.wait_for(recipient, 1).await;
        assert_eq!(received.len(), 1, "one mail for {recipient}");
        let got = &received[0];
        assert_eq!(got.subject, SUBJECT);
        assert_eq!(got.body, BODY);
        assert_eq!(got.from, "no-reply@localhost");
        assert_eq!(got.to, ["taro@example.jp", "yamada.taro@example.com"]);
        assert!(got.raw.contains("To: taro@example.jp"), "{}", got.raw);
    }
    assert_eq!(
        server.messages().len(),
        1,
        "one message with two recipients"
    );
}

#[tokio::test]
async fn several_mails_in_a_row_arrive_in_order_with_dot_stuffing_undone() {
    let server = SmtpServer::start().await;
    let mailer = mailer(&[("KAGI_SMTP_URL", server.url())]);

    for n in 1..=3 {
        let mail = OutgoingMail {
            to: vec![email("hanako@example.jp")],
            subject: format!("確認コード {n}"),
            // ASCII travels as 7bit, so the leading dot is dot-stuffed on the wire.
            body: format!(".leading dot survives\ncode: {n}{n}{n}{n}{n}{n}\n"),
        };
        mailer.send(&mail).await.expect("mail is sent");
    }

    let received = server.wait_for("hanako@example.jp", 3).await;
    let subjects: Vec<&str> = received.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["確認コード 1", "確認コード 2", "確認コード 3"]);
    assert_eq!(received[1].body, ".leading dot survives\ncode: 222222\n");
}

#[tokio::test]
async fn every_transfer_encoding_lettre_picks_decodes_to_the_original_body() {
    let server = SmtpServer::start().await;
    let mailer = mailer(&[("KAGI_SMTP_URL", server.url())]);
    // (body, the Content-Transfer-Encoding lettre chooses for it)
    let cases = [
        ("Your code is 482915.\n", "7bit"),
        (
            "Your code is 482915. Thank you for using Kagi (鍵).\n",
            "quoted-printable",
        ),
        (BODY, "base64"),
    ];

    for (body, _) in cases {
        let mail = OutgoingMail {
            to: vec![email("jiro@example.jp")],
            subject: "code".to_owned(),
            body: body.to_owned(),
        };
        mailer.send(&mail).await.expect("mail is sent");
    }

    let received = server.wait_for("jiro@example.jp", cases.len()).await;
    for ((body, encoding), got) in cases.iter().zip(&received) {
        let header = format!("Content-Transfer-Encoding: {encoding}");
        assert!(got.raw.contains(&header), "expected {header}:\n{}", got.raw);
        assert_eq!(got.body, *body);
    }
}

#[tokio::test]
async fn without_an_smtp_url_the_mail_lands_in_the_outbox_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = dir.path().join("outbox");
    let mailer = mailer(&[("KAGI_OUTBOX_DIR", outbox.to_string_lossy().into_owned())]);
    let mail = OutgoingMail {
        to: vec![email("taro@example.jp")],
        subject: SUBJECT.to_owned(),
        body: "Your code is 482915.\n".to_owned(),
    };

    mailer.send(&mail).await.expect("mail is written");

    let files: Vec<_> = std::fs::read_dir(&outbox)
        .expect("outbox folder exists")
        .map(|entry| entry.expect("outbox entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let text = std::fs::read_to_string(&files[0]).expect("mail file is text");
    assert!(text.contains("To: taro@example.jp"), "{text}");
    assert!(text.contains("Your code is 482915."), "{text}");
}
