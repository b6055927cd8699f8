//! Statistics and measurements: medians, paired ratios, CPU time per request, peak RSS,
//! the machine's load, and the printed summary of a run.

use crate::cli::{Options, Variant};

/// Requests/s per run (W1, W2) and CPU µs per request on W2 (client, server), per
/// client, indexed like [`Variant::ALL`].
pub struct Results {
    pub w1: Vec<Vec<f64>>,
    pub w2: Vec<Vec<f64>>,
    pub w2_cpu: Vec<Vec<(f64, f64)>>,
}

impl Results {
    pub fn new() -> Self {
        let n = Variant::ALL.len();
        Self {
            w1: vec![Vec::new(); n],
            w2: vec![Vec::new(); n],
            w2_cpu: vec![Vec::new(); n],
        }
    }

    /// Prints the medians, the ratios of every pair that ran, and the CPU per request.
    pub fn print(&self, options: &Options) {
        let medians = |rates: &[Vec<f64>]| -> Vec<f64> {
            rates.iter().map(|r| median(&mut r.clone())).collect()
        };
        let w1m = medians(&self.w1);
        let w2m = medians(&self.w2);
        println!("\nmedians of {} runs (requests/s):", options.runs);
        println!("{:<16} {:>10} {:>10}", "client", "W1", "W2");
        for &v in &options.variants {
            let i = v.index();
            println!(
                "{:<16} {:>10} {:>10}",
                v.name(),
                ratio(w1m[i], 1.0, 0),
                ratio(w2m[i], 1.0, 0)
            );
        }
        println!(
            "\nthroughput ratios: ratio of medians (median of per-round paired ratios); \
             target >= 0.90 against the raw floors"
        );
        for (a, b) in Variant::PAIRS {
            if !options.variants.contains(&a) || !options.variants.contains(&b) {
                continue;
            }
            let (i, f) = (a.index(), b.index());
            println!(
                "{:<16} / {:<16} W1 {} (paired {})  W2 {} (paired {})",
                a.name(),
                b.name(),
                ratio(w1m[i], w1m[f], 3),
                ratio(paired(&self.w1[i], &self.w1[f]), 1.0, 3),
                ratio(w2m[i], w2m[f], 3),
                ratio(paired(&self.w2[i], &self.w2[f]), 1.0, 3),
            );
        }
        if options.w2 {
            println!(
                "\nW2 CPU per request, medians (µs; client = this process, server = the sandbox \
                 child; the kernel's TCP work is counted on the side that ran it):"
            );
            println!(
                "{:<16} {:>8} {:>8} {:>8} {:>22}",
                "client", "client", "server", "total", "CPU-bound max req/s"
            );
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            for &v in &options.variants {
                let cpu = &self.w2_cpu[v.index()];
                let client = median(&mut cpu.iter().map(|c| c.0).collect::<Vec<_>>());
                let server = median(&mut cpu.iter().map(|c| c.1).collect::<Vec<_>>());
                println!(
                    "{:<16} {client:>8.1} {server:>8.1} {:>8.1} {:>22}",
                    v.name(),
                    client + server,
                    ratio(cores * 1e6, client + server, 0)
                );
            }
        }
        for (par, seq) in [
            (Variant::SdkAsync16, Variant::SdkAsync),
            (Variant::RawHyper16, Variant::RawHyper),
        ] {
            if options.variants.contains(&par) && options.variants.contains(&seq) {
                let (p, s) = (par.index(), seq.index());
                println!(
                    "{} / {}: W1 {}x  W2 {}x",
                    par.name(),
                    seq.name(),
                    ratio(w1m[p], w1m[s], 2),
                    ratio(w2m[p], w2m[s], 2)
                );
            }
        }
    }
}

/// Median of the per-round ratios `a[i] / b[i]`: each run is paired with the run of the
/// other client in the same round, which cancels most of the machine's drift.
pub fn paired(a: &[f64], b: &[f64]) -> f64 {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
    median(&mut r)
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// `a / b` with `digits` decimals, or `-` when a workload did not run.
pub fn ratio(a: f64, b: f64, digits: usize) -> String {
    let r = a / b;
    if r.is_finite() {
        format!("{r:.digits$}")
    } else {
        "-".into()
    }
}

/// CPU time (ns) spent so far by every live thread of process `pid`, from
/// `/proc/<pid>/task/*/schedstat` (nanosecond resolution, unlike `/proc/<pid>/stat`).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU time of this process and of the sandbox child, for CPU per request.
pub fn cpu_pair(server: u32) -> (u64, u64) {
    (cpu_ns(std::process::id()), cpu_ns(server))
}

/// Microseconds of CPU per request between two [`cpu_pair`] readings.
pub fn cpu_us_per_request(before: (u64, u64), after: (u64, u64), requests: usize) -> (f64, f64) {
    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1000.0 / requests.max(1) as f64;
    (per(after.0, before.0), per(after.1, before.1))
}

pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// The machine's load averages (1, 5, 15 minutes), as `/proc/loadavg` gives them: other
/// work on the machine shows here.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "n/a".into())
}
