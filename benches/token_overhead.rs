//! Wall time AND CPU time per `tokens().create`, against a bare ureq / reqwest request of the
//! same shape (same method, path, headers and body; answer read whole) sent by a client with NO
//! timeouts and default settings, sequentially and from 16 threads sharing one client.
//!
//! `cargo bench --bench token_overhead --all-features`
//!
//! Every measurement runs in its own child process against its own keep-alive loopback server,
//! which runs in yet another process: the child's CPU time (`getrusage(RUSAGE_SELF)`, every
//! thread of the process, the ones that have already exited included) is the client's alone,
//! threads that a client spawns per call counted. Kinds alternate within each round; the figure
//! per kind is the median over the rounds, and each ratio compares the SDK with the bare client
//! measured in the same run. CPU time is the figure to trust on a busy machine; wall time on a
//! loopback round trip is bimodal from process to process.
//!
//! `DECART_BENCH_ROUNDS` (default 5) sets the rounds; `DECART_BENCH_EXTRA=ureq-global` adds the
//! diagnostic kind "bare ureq with a 60 s total timeout"; `DECART_BENCH_HOST=localhost` sends
//! to that host name instead of `127.0.0.1` (a name is resolved, an address literal is not).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use decart::CreateTokenOptions;

const BODY: &str = r#"{"apiKey":"ek_bench_0123456789","token":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2ln","expiresAt":"2030-01-01T00:00:00Z","permissions":{"models":["lucy-2.1"],"origins":null},"constraints":null}"#;
const WIRE: &str = r#"{"expiresIn":600,"allowedModels":["lucy-2.1"]}"#;
/// Calls per sequential measurement.
const SEQUENTIAL_CALLS: usize = 2000;
/// Threads (or tasks, for the async flavour) sharing one client, and calls per thread.
const THREADS: usize = 16;
const CALLS_PER_THREAD: usize = 200;
/// Calls before the clock starts (per thread in the concurrent mode).
const WARM_UP: usize = 100;

/// (kind, label, the kind it is compared with)
type Kind = (&'static str, &'static str, Option<&'static str>);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--serve") {
        let url = support::serve(BODY);
        println!("{url}");
        std::io::stdout().flush().unwrap();
        // Serve until the parent closes our stdin.
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        return;
    }
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let (wall, cpu) = child(&args[pos + 1], &args[pos + 2], &args[pos + 3]);
        println!(
            "{} {} {}",
            wall.as_nanos(),
            cpu.map_or(-1, |c| c.as_nanos() as i128),
            support::peak_rss_kib().map_or(-1, i128::from)
        );
        return;
    }
    let rounds: usize = std::env::var("DECART_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut kinds: Vec<Kind> = vec![
        ("ureq", "bare ureq, no timeouts", None),
        ("blocking", "decart::blocking", Some("ureq")),
    ];
    if std::env::var("DECART_BENCH_EXTRA").is_ok_and(|v| v.contains("ureq-global")) {
        kinds.push(("ureq-global", "bare ureq, 60 s total timeout", Some("ureq")));
    }
    if cfg!(feature = "async") {
        kinds.push(("reqwest", "bare reqwest, no timeouts", None));
        kinds.push(("async", "decart::nonblocking", Some("reqwest")));
    }
    let modes = ["sequential", "16-threads"];
    let exe = std::env::current_exe().unwrap();
    // samples[mode][kind] = (wall, cpu) per call and the child's peak RSS, one per round
    let mut samples = vec![vec![Vec::new(); kinds.len()]; modes.len()];
    for _ in 0..rounds {
        for (m, mode) in modes.iter().enumerate() {
            for (k, (kind, ..)) in kinds.iter().enumerate() {
                samples[m][k].push(measure(&exe, kind, mode));
            }
        }
    }
    println!(
        "tokens().create vs a bare request of the same shape; loopback keep-alive server in \
         another process; median of {rounds} rounds (one process each), min-max in brackets"
    );
    println!(
        "sequential: {SEQUENTIAL_CALLS} calls; 16-threads: {THREADS} threads (tasks for async) \
         x {CALLS_PER_THREAD} calls sharing one client, wall = elapsed / calls"
    );
    println!(
        "{:<11} {:<30} {:>24} {:>24} {:>8} {:>8} {:>13}",
        "mode", "client", "wall us/call", "CPU us/call", "wall x", "CPU x", "peak RSS MiB"
    );
    for (m, mode) in modes.iter().enumerate() {
        for (k, (_, label, baseline)) in kinds.iter().enumerate() {
            let walls: Vec<f64> = samples[m][k].iter().map(|s| s.0).collect();
            let cpus: Vec<f64> = samples[m][k].iter().filter_map(|s| s.1).collect();
            let rss: Vec<f64> = samples[m][k].iter().filter_map(|s| s.2).collect();
            let (wall, cpu) = (median(&walls), median(&cpus));
            let ratios = baseline.map(|b| {
                let b = kinds.iter().position(|(kind, ..)| *kind == b).unwrap();
                let bw: Vec<f64> = samples[m][b].iter().map(|s| s.0).collect();
                let bc: Vec<f64> = samples[m][b].iter().filter_map(|s| s.1).collect();
                (wall / median(&bw), cpu / median(&bc))
            });
            println!(
                "{:<11} {:<30} {:>24} {:>24} {:>8} {:>8} {:>13.1}",
                mode,
                label,
                spread(&walls),
                spread(&cpus),
                ratios.map_or(String::new(), |r| format!("{:.2}x", r.0)),
                ratios.map_or(String::new(), |r| format!("{:.2}x", r.1)),
                median(&rss),
            );
        }
    }
}

/// Runs one measurement in a child process against a fresh server process; (wall, CPU) in µs
/// per call, and the child's peak RSS in MiB.
fn measure(exe: &std::path::Path, kind: &str, mode: &str) -> (f64, Option<f64>, Option<f64>) {
    let mut server = Command::new(exe)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let mut url = url.trim().to_owned();
    if let Ok(host) = std::env::var("DECART_BENCH_HOST") {
        url = url.replace("127.0.0.1", &host);
    }
    let out = Command::new(exe)
        .args(["--child", kind, mode, &url])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    drop(server.stdin.take());
    server.wait().unwrap();
    assert!(out.status.success(), "the {kind} {mode} child failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace().map(|f| f.parse::<i128>().unwrap());
    let (wall, cpu, rss) = (
        fields.next().unwrap(),
        fields.next().unwrap(),
        fields.next().unwrap(),
    );
    (
        wall as f64 / 1000.0,
        (cpu >= 0).then_some(cpu as f64 / 1000.0),
        (rss >= 0).then_some(rss as f64 / 1024.0),
    )
}

fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn spread(values: &[f64]) -> String {
    if values.is_empty() {
        return "n/a".into();
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.1} [{min:.1}-{max:.1}]", median(values))
}

/// One kind in one mode, in this process: (wall, CPU) per call.
fn child(kind: &str, mode: &str, url: &str) -> (Duration, Option<Duration>) {
    let endpoint = format!("{url}/v1/client/tokens");
    let ua = format!("decart-rust-sdk/{} lang/rust", env!("CARGO_PKG_VERSION"));
    let options = CreateTokenOptions::new()
        .expires_in(600)
        .allowed_models(["lucy-2.1"]);
    let concurrent = match mode {
        "sequential" => false,
        "16-threads" => true,
        other => panic!("unknown mode {other}"),
    };
    let call: Arc<dyn Fn() + Send + Sync> = match kind {
        "ureq" | "ureq-global" => {
            let mut config = ureq::Agent::config_builder().http_status_as_error(false);
            if kind == "ureq-global" {
                config = config
                    .timeout_connect(Some(Duration::from_secs(10)))
                    .timeout_global(Some(Duration::from_secs(60)))
                    .max_redirects(0);
            }
            let agent: ureq::Agent = config.build().into();
            Arc::new(move || {
                let mut resp = agent
                    .post(&endpoint)
                    .header("x-api-key", "bench-key")
                    .header("user-agent", &ua)
                    .header("accept", "application/json")
                    .header("content-type", "application/json")
                    .send(WIRE)
                    .unwrap();
                let body = resp.body_mut().read_to_vec().unwrap();
                assert_eq!(body.len(), BODY.len());
            })
        }
        "blocking" => {
            let client = decart::blocking::Client::builder()
                .api_key("bench-key")
                .base_url(url)
                .build()
                .unwrap();
            Arc::new(move || {
                let token = client.tokens().create(&options).unwrap();
                assert!(token.token.is_some());
            })
        }
        #[cfg(feature = "async")]
        "reqwest" => {
            // The SDK enables reqwest's `rustls-no-provider`: a bare client needs a provider.
            #[cfg(feature = "rustls")]
            let _ = rustls::crypto::ring::default_provider().install_default();
            let client = reqwest::Client::builder().build().unwrap();
            return run_async(concurrent, move || {
                let request = client
                    .post(&endpoint)
                    .header("x-api-key", "bench-key")
                    .header("user-agent", &ua)
                    .header("accept", "application/json")
                    .header("content-type", "application/json")
                    .body(WIRE.as_bytes().to_vec());
                async move {
                    let resp = request.send().await.unwrap();
                    let body = resp.bytes().await.unwrap();
                    assert_eq!(body.len(), BODY.len());
                }
            });
        }
        #[cfg(feature = "async")]
        "async" => {
            let client = decart::nonblocking::Client::builder()
                .api_key("bench-key")
                .base_url(url)
                .build()
                .unwrap();
            let options = Arc::new(options);
            return run_async(concurrent, move || {
                let (client, options) = (client.clone(), options.clone());
                async move {
                    let token = client.tokens().create(&options).await.unwrap();
                    assert!(token.token.is_some());
                }
            });
        }
        other => panic!("unknown kind {other}"),
    };
    if !concurrent {
        for _ in 0..WARM_UP {
            call();
        }
        return timed(SEQUENTIAL_CALLS, || {
            for _ in 0..SEQUENTIAL_CALLS {
                call();
            }
        });
    }
    let start = Arc::new(Barrier::new(THREADS + 1));
    let end = Arc::new(Barrier::new(THREADS + 1));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (call, start, end) = (call.clone(), start.clone(), end.clone());
            std::thread::spawn(move || {
                for _ in 0..WARM_UP {
                    call();
                }
                start.wait();
                for _ in 0..CALLS_PER_THREAD {
                    call();
                }
                end.wait();
            })
        })
        .collect();
    start.wait();
    let result = timed(THREADS * CALLS_PER_THREAD, || {
        end.wait();
    });
    for t in threads {
        t.join().unwrap();
    }
    result
}

/// Wall and CPU time of `work`, divided by `calls`.
fn timed(calls: usize, work: impl FnOnce()) -> (Duration, Option<Duration>) {
    let cpu = support::process_cpu();
    let started = Instant::now();
    work();
    let wall = started.elapsed();
    let cpu = cpu.zip(support::process_cpu()).map(|(a, b)| b - a);
    let n = calls as u32;
    (wall / n, cpu.map(|c| c / n))
}

/// The async flavour: sequential calls on a current-thread runtime, or [`THREADS`] tasks of
/// sequential calls on a multi-thread runtime with [`THREADS`] workers.
#[cfg(feature = "async")]
fn run_async<F, Fut>(concurrent: bool, call: F) -> (Duration, Option<Duration>)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let call = Arc::new(call);
    if !concurrent {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            for _ in 0..WARM_UP {
                call().await;
            }
        });
        return timed(SEQUENTIAL_CALLS, || {
            rt.block_on(async {
                for _ in 0..SEQUENTIAL_CALLS {
                    call().await;
                }
            })
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()
        .unwrap();
    let batch = |calls: usize| {
        let call = call.clone();
        async move {
            let tasks: Vec<_> = (0..THREADS)
                .map(|_| {
                    let call = call.clone();
                    tokio::spawn(async move {
                        for _ in 0..calls {
                            call().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    rt.block_on(batch(WARM_UP));
    timed(THREADS * CALLS_PER_THREAD, || {
        rt.block_on(batch(CALLS_PER_THREAD))
    })
}
