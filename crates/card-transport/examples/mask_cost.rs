//! The cost of keeping the query and bodies out of ureq's logs: `UreqTransport` (which
//! masks them) against a plain ureq agent with the same settings, on loopback, as wall
//! time and as CPU time of the calling thread (Linux: `/proc/thread-self/schedstat`).
//!
//! `cargo run --release -p card-transport --features blocking --example mask_cost`
use card_transport::{BlockingTransport, TransportConfig, UreqTransport};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Instant;

static CONNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn server(body_len: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let s = s.unwrap();
            CONNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                let body = vec![b'a'; body_len];
                loop {
                    let mut len = 0;
                    loop {
                        let mut l = String::new();
                        if r.read_line(&mut l).unwrap_or(0) == 0 {
                            return;
                        }
                        let t = l.trim_end();
                        if t.is_empty() {
                            break;
                        }
                        if let Some(v) = t.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut b = vec![0; len];
                    r.read_exact(&mut b).unwrap();
                    let mut out =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
                            .into_bytes();
                    out.extend_from_slice(&body);
                    if w.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!(
        "http://{addr}/card/code/deposit?access_token={}",
        "T".repeat(140)
    )
}

/// CPU time of the calling thread, in ns.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn main() {
    let n = 5_000;
    for body_len in [200usize, 10_000] {
        let url = server(body_len);
        let req_body = vec![b'x'; 3_000];
        let t = UreqTransport::new(TransportConfig::default());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(std::time::Duration::from_secs(5)))
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .new_agent();
        for round in 0..2 {
            let start = Instant::now();
            let cpu = cpu_ns();
            for _ in 0..n {
                let r = t
                    .send(http::Request::post(&url).body(req_body.clone()).unwrap())
                    .unwrap();
                assert_eq!(r.body().len(), body_len);
            }
            let masked = start.elapsed();
            let masked_cpu = cpu_ns() - cpu;
            println!(
                "connections so far: {}",
                CONNS.load(std::sync::atomic::Ordering::Relaxed)
            );
            let start = Instant::now();
            let cpu = cpu_ns();
            for _ in 0..n {
                let r = agent
                    .run(http::Request::post(&url).body(req_body.clone()).unwrap())
                    .unwrap();
                let b = r
                    .into_body()
                    .into_with_config()
                    .limit(1 << 20)
                    .read_to_vec()
                    .unwrap();
                assert_eq!(b.len(), body_len);
            }
            let plain = start.elapsed();
            let plain_cpu = cpu_ns() - cpu;
            println!(
                "  client thread CPU: masked {:.1} us/req, plain {:.1} us/req",
                masked_cpu as f64 / 1e3 / n as f64,
                plain_cpu as f64 / 1e3 / n as f64
            );
            println!(
                "connections so far: {}",
                CONNS.load(std::sync::atomic::Ordering::Relaxed)
            );
            println!(
                "round {round} answer {body_len} B, request body 3000 B: masked {:.1} us/req, plain ureq {:.1} us/req",
                masked.as_secs_f64() * 1e6 / n as f64,
                plain.as_secs_f64() * 1e6 / n as f64
            );
        }
    }
}
