//! Peak memory and throughput of streamed uploads and downloads, per flavour, against a
//! loopback server, with a bare ureq / reqwest streaming request as the baseline of the same run.
//!
//! `cargo bench --bench stream_memory --all-features` (default 1 GiB; `DECART_BENCH_MIB=256`
//! for less). Each measurement runs in its own child process, so its peak RSS (VmHWM) is its own.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        child(&args[pos + 1], &args[pos + 2], &args[pos + 3]);
        return;
    }
    let mib: u64 = std::env::var("DECART_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let dir = std::env::temp_dir().join(format!("decart-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("input.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        let block: Vec<u8> = (0..1024 * 1024).map(|i| (i % 253) as u8).collect();
        for _ in 0..mib {
            f.write_all(&block).unwrap();
        }
    }
    println!("file size: {mib} MiB");
    let exe = std::env::current_exe().unwrap();
    let mut flavours = Vec::new();
    if cfg!(feature = "blocking") {
        flavours.push("blocking");
    }
    if cfg!(feature = "async") {
        flavours.push("async");
    }
    for flavour in flavours {
        for what in ["bare-upload", "upload", "download"] {
            let out = std::process::Command::new(&exe)
                .args(["--child", flavour, what, input.to_str().unwrap()])
                .output()
                .unwrap();
            print!("{}", String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A server that swallows one request body (chunked or not) per connection and answers JSON,
/// or, for GET, sends `size` bytes.
fn serve(size: u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 256 * 1024];
                let mut head = Vec::new();
                let end = loop {
                    let n = stream.read(&mut buf).unwrap();
                    head.extend_from_slice(&buf[..n]);
                    if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                };
                if head.starts_with(b"GET") {
                    let h = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\ncontent-length: {size}\r\n\r\n"
                    );
                    stream.write_all(h.as_bytes()).unwrap();
                    let block = vec![1u8; 1024 * 1024];
                    let mut left = size;
                    while left > 0 {
                        let n = left.min(block.len() as u64) as usize;
                        if stream.write_all(&block[..n]).is_err() {
                            return;
                        }
                        left -= n as u64;
                    }
                    return;
                }
                // Swallow the body until the chunked terminator (bodies here are chunked).
                let mut tail = head[end..].to_vec();
                while !tail.ends_with(b"0\r\n\r\n") {
                    let n = stream.read(&mut buf).unwrap();
                    if n == 0 {
                        return;
                    }
                    let keep = tail.len().saturating_sub(8);
                    tail.drain(..keep);
                    tail.extend_from_slice(&buf[..n]);
                }
                let body = r#"{"job_id":"job_bench","status":"pending"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).unwrap();
            });
        }
    });
    url
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn child(flavour: &str, what: &str, input: &str) {
    let size = std::fs::metadata(input).unwrap().len();
    let url = serve(size);
    let path = std::path::Path::new(input);
    let started = Instant::now();
    match (flavour, what) {
        #[cfg(feature = "blocking")]
        ("blocking", "bare-upload") => {
            let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
            let file = std::fs::File::open(path).unwrap();
            let mut r = agent
                .post(format!("{url}/v1/jobs/lucy-2.1"))
                .header("content-type", "application/octet-stream")
                .send(ureq::SendBody::from_owned_reader(file))
                .unwrap();
            r.body_mut().read_to_vec().unwrap();
        }
        #[cfg(feature = "blocking")]
        ("blocking", "upload") => {
            let client = decart::Client::builder()
                .api_key("k")
                .base_url(&url)
                .build()
                .unwrap();
            let model = decart::models::video("lucy-2.1").unwrap();
            let job = client
                .queue()
                .submit(&model, decart::VideoEditInput::new("p", path))
                .unwrap();
            assert_eq!(job.job_id, "job_bench");
        }
        #[cfg(feature = "blocking")]
        ("blocking", "download") => {
            let client = decart::Client::builder()
                .api_key("k")
                .base_url(&url)
                .build()
                .unwrap();
            let n = client
                .queue()
                .result_to_writer("job_bench", &mut std::io::sink())
                .unwrap();
            assert_eq!(n, size);
        }
        #[cfg(feature = "async")]
        ("async", what) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                match what {
                    "bare-upload" => {
                        // reqwest is built without a default crypto provider (see Cargo.toml).
                        #[cfg(feature = "rustls")]
                        let _ = rustls::crypto::ring::default_provider().install_default();
                        let file = tokio::fs::File::open(path).await.unwrap();
                        let stream = futures_util::stream::try_unfold(file, |mut f| async move {
                            use tokio::io::AsyncReadExt;
                            let mut buf = vec![0u8; 64 * 1024];
                            let n = f.read(&mut buf).await?;
                            buf.truncate(n);
                            Ok::<_, std::io::Error>(if n == 0 { None } else { Some((buf, f)) })
                        });
                        reqwest::Client::new()
                            .post(format!("{url}/v1/jobs/lucy-2.1"))
                            .body(reqwest::Body::wrap_stream(stream))
                            .send()
                            .await
                            .unwrap()
                            .bytes()
                            .await
                            .unwrap();
                    }
                    "upload" => {
                        let client = decart::nonblocking::Client::builder()
                            .api_key("k")
                            .base_url(&url)
                            .build()
                            .unwrap();
                        let model = decart::models::video("lucy-2.1").unwrap();
                        let job = client
                            .queue()
                            .submit(&model, decart::VideoEditInput::new("p", path))
                            .await
                            .unwrap();
                        assert_eq!(job.job_id, "job_bench");
                    }
                    _ => {
                        let client = decart::nonblocking::Client::builder()
                            .api_key("k")
                            .base_url(&url)
                            .build()
                            .unwrap();
                        let n = client
                            .queue()
                            .result_to_writer("job_bench", &mut tokio::io::sink())
                            .await
                            .unwrap();
                        assert_eq!(n, size);
                    }
                }
            });
        }
        _ => return,
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{flavour:8} {what:12} {:7.1} MiB/s  peak RSS {:6.1} MiB",
        size as f64 / (1024.0 * 1024.0) / secs,
        peak_rss_mib()
    );
}
