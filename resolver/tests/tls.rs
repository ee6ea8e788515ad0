//! The TLS stacks of the `tls` module against a real TLS server on loopback (`openssl s_server`
//! with a self-signed leaf certificate for 127.0.0.1 made by `openssl req`): each stack this build has completes a
//! handshake far enough to receive the certificate and refuses it as not issued by a trusted
//! root, rather than failing for want of a provider or a TLS backend.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn self_signed_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-subj", "/CN=127.0.0.1", "-days", "1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("the openssl CLI")
        .success();
    assert!(ok, "openssl req failed");
    // Port 0: the kernel picks a free port and s_server prints it (`ACCEPT 127.0.0.1:<port>`)
    // once it listens. A port picked here and handed over would race the tests running beside
    // this one: two servers could be given the same port.
    let mut child = Command::new("openssl")
        .args(["s_server", "-www", "-accept", "127.0.0.1:0"])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("ACCEPT 127.0.0.1:")?.trim().parse().ok())
        .expect("openssl s_server did not start");
    // Keep reading what it prints, so a full pipe never blocks it.
    std::thread::spawn(move || lines.for_each(drop));
    Server {
        child,
        port,
        _dir: dir,
    }
}

/// The error and its sources, as one string.
fn chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

async fn refuses_the_untrusted_certificate(builder: reqwest::ClientBuilder, stack: &str) {
    let server = self_signed_server();
    let client = builder
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap();
    let e = client
        .get(format!("https://127.0.0.1:{}/", server.port))
        .send()
        .await
        .expect_err("a self-signed certificate must not be trusted");
    let text = chain(&e);
    assert!(
        text.contains("invalid peer certificate") && text.contains("UnknownIssuer"),
        "{stack}: not a certificate refusal: {text}"
    );
}

#[cfg(feature = "tls-platform")]
#[tokio::test]
async fn platform_stack_refuses_an_untrusted_certificate() {
    refuses_the_untrusted_certificate(sourcegate::tls::platform_client_builder(), "platform").await;
}

#[cfg(feature = "tls-webpki")]
#[tokio::test]
async fn webpki_stack_refuses_an_untrusted_certificate() {
    refuses_the_untrusted_certificate(sourcegate::tls::webpki_client_builder(), "webpki").await;
}

#[tokio::test]
async fn the_default_builder_is_the_build_s_stack() {
    if sourcegate::tls::STACK == "none" {
        return;
    }
    refuses_the_untrusted_certificate(sourcegate::tls::client_builder(), sourcegate::tls::STACK)
        .await;
}
