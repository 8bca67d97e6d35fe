//! The cost of one upstream-latency observation: the `ShardedHistogram` the gateway used to have
//! (kept in histogram/sharded.rs for this comparison) against prometheus-client's `Histogram`,
//! shared by every thread or one per thread, with the buckets the gateway uses
//! (`exponential_buckets(0.0005, 2.0, 18)`).
//!
//! Each thread observes the same fixed sequence of durations, spread logarithmically from
//! 50 µs to 20 ms (loopback answers to slow ones), so every variant searches the same buckets.
//! `per_thread` finds its thread's histogram through a thread-local index that the thread sets
//! when it starts, as a worker thread would (`Metrics` is shared by all workers, and
//! `ShardedHistogram` also finds its shard through a thread-local); its histograms are created
//! one after another on the main thread, as `Metrics::new` would create them.
//! `per_thread_own` differs only in that each thread creates its own histogram, so the two
//! threads' counters are not neighbours in memory.
//!
//! Time: `cargo bench -p corsguard-gateway --bench histogram -- --rounds 7` runs every variant
//! with 1 and 2 threads observing at once, in alternation, round after round, and prints
//! nanoseconds per observation per thread (median and range over the rounds), twice: wall
//! clock (the slowest thread's), and each thread's own CPU time (which a process running beside
//! the benchmark does not inflate, while cache lines passed between the threads still do). For
//! 2 threads it also prints how much of the time both actually ran at once (the threads' CPU
//! time over twice the wall clock): contention can only show when that is near 100 %. Every
//! thread observes in a tight loop, which is the worst case for contention; in the gateway an
//! observation comes once per proxied request, among some 28,000 other instructions.
//!
//! At the gateway's pace: the same run then has 2 threads observe once every 10 µs (busy
//! between observations, as a worker serving requests is), timing each observation alone; the
//! cost of the cache lines one thread takes from the other shows there, as a worker would pay
//! it. It prints the mean time per observation minus the `loop` variant's (the clock reads
//! around an empty observation), leaving out observations that took over 10 µs (a thread
//! preempted in the middle, or a lock waited for behind a preempted holder), which it counts.
//!
//! Instructions (load-independent): `CORSGUARD_ICOUNT="sharded 100000" valgrind
//! --tool=callgrind <bench binary>` observes that many times on one thread and exits;
//! `scripts/bench-histogram` runs each variant with 0 and N observations, subtracts, and
//! subtracts the `loop` variant (the same loop with no histogram) too.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use sharded::ShardedHistogram;

// In a directory of its own, so that Cargo does not take it for a benchmark.
#[path = "histogram/sharded.rs"]
mod sharded;

const VARIANTS: [&str; 4] = ["sharded", "shared", "per_thread", "per_thread_own"];
const SEQUENCE: usize = 1024;

fn buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0005, 2.0, 18)
}

/// A fixed pseudo-random sequence (an LCG, so every run and every variant sees the same one).
fn durations() -> Vec<Duration> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..SEQUENCE)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let unit = (state >> 11) as f64 / (1u64 << 53) as f64;
            // 50 µs × 400^unit: 50 µs to 20 ms.
            Duration::from_nanos((50_000.0 * 400f64.powf(unit)) as u64)
        })
        .collect()
}

/// What one thread observes into.
enum Target {
    /// The loop alone, for the instruction count's baseline.
    Nothing,
    Sharded(ShardedHistogram),
    Shared(Histogram),
    /// Every thread's histogram, found through the thread's index.
    PerThread(Arc<Vec<Histogram>>),
    Own(Histogram),
}

thread_local! {
    /// The thread's index into a `PerThread` vector, set when the thread starts.
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

#[inline(never)]
fn observe_all(target: &Target, durations: &[Duration], count: usize) {
    let mut next = durations.iter().cycle();
    for _ in 0..count {
        let elapsed = *black_box(next.next().unwrap_or(&Duration::ZERO));
        match target {
            Target::Nothing => {
                black_box(elapsed);
            }
            Target::Sharded(h) => h.observe(elapsed),
            Target::Shared(h) | Target::Own(h) => h.observe(elapsed.as_secs_f64()),
            Target::PerThread(all) => all[INDEX.get()].observe(elapsed.as_secs_f64()),
        }
    }
}

/// The targets for `threads` threads: `None` where the thread makes its own (`per_thread_own`).
fn targets(variant: &str, threads: usize) -> Vec<Option<Target>> {
    match variant {
        "loop" => (0..threads).map(|_| Some(Target::Nothing)).collect(),
        "sharded" => {
            let h = ShardedHistogram::new(buckets());
            (0..threads).map(|_| Some(Target::Sharded(h.clone()))).collect()
        }
        "shared" => {
            let h = Histogram::new(buckets());
            (0..threads).map(|_| Some(Target::Shared(h.clone()))).collect()
        }
        "per_thread" => {
            let all = Arc::new((0..threads).map(|_| Histogram::new(buckets())).collect::<Vec<_>>());
            (0..threads).map(|_| Some(Target::PerThread(all.clone()))).collect()
        }
        "per_thread_own" => (0..threads).map(|_| None).collect(),
        other => panic!("unknown variant {other:?}; one of loop, {}", VARIANTS.join(", ")),
    }
}

/// One measurement, in nanoseconds per observation per thread.
struct Sample {
    /// The slowest thread's wall-clock time.
    wall: f64,
    /// The threads' mean CPU time.
    cpu: f64,
    /// The threads' CPU time over `threads` times the wall-clock time.
    together: f64,
}

/// This thread's CPU time.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec; the clock id is a constant Linux provides.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn measure(variant: &str, threads: usize, observations: usize, durations: &Arc<Vec<Duration>>) -> Sample {
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = targets(variant, threads)
        .into_iter()
        .enumerate()
        .map(|(index, target)| {
            let (start, durations) = (start.clone(), durations.clone());
            std::thread::spawn(move || {
                INDEX.set(index);
                let target = target.unwrap_or_else(|| Target::Own(Histogram::new(buckets())));
                // Warm up: the thread-locals, the caches, the shard.
                observe_all(&target, &durations, SEQUENCE);
                start.wait();
                let (began, cpu_began) = (Instant::now(), thread_cpu_time());
                observe_all(&target, &durations, observations);
                (began.elapsed(), thread_cpu_time() - cpu_began)
            })
        })
        .collect();
    let times: Vec<(Duration, Duration)> =
        handles.into_iter().map(|h| h.join().expect("bench thread")).collect();
    let wall = times.iter().map(|t| t.0).max().unwrap_or_default().as_nanos() as f64;
    let cpu: f64 = times.iter().map(|t| t.1.as_nanos() as f64).sum();
    Sample {
        wall: wall / observations as f64,
        cpu: cpu / threads as f64 / observations as f64,
        together: cpu / (threads as f64 * wall),
    }
}

/// Observations timed one by one, 10 µs apart.
struct Spaced {
    /// Mean nanoseconds per observation, of those that took at most 10 µs.
    mean: f64,
    /// Observations over 10 µs, per million.
    slow_per_million: f64,
}

const SPACING: Duration = Duration::from_micros(10);

fn spaced(variant: &str, threads: usize, observations: usize, durations: &Arc<Vec<Duration>>) -> Spaced {
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = targets(variant, threads)
        .into_iter()
        .enumerate()
        .map(|(index, target)| {
            let (start, durations) = (start.clone(), durations.clone());
            std::thread::spawn(move || {
                INDEX.set(index);
                let target = target.unwrap_or_else(|| Target::Own(Histogram::new(buckets())));
                observe_all(&target, &durations, SEQUENCE);
                start.wait();
                let (mut total, mut counted, mut slow) = (Duration::ZERO, 0u64, 0u64);
                for i in 0..observations {
                    let busy_until = Instant::now() + SPACING;
                    while Instant::now() < busy_until {
                        std::hint::spin_loop();
                    }
                    let elapsed = durations[i % durations.len()];
                    let began = Instant::now();
                    observe_all(&target, std::slice::from_ref(&elapsed), 1);
                    let took = began.elapsed();
                    if took > SPACING {
                        slow += 1;
                    } else {
                        total += took;
                        counted += 1;
                    }
                }
                (total, counted, slow)
            })
        })
        .collect();
    let (mut total, mut counted, mut slow) = (0f64, 0u64, 0u64);
    for handle in handles {
        let (t, c, s) = handle.join().expect("bench thread");
        total += t.as_nanos() as f64;
        counted += c;
        slow += s;
    }
    Spaced {
        mean: total / counted.max(1) as f64,
        slow_per_million: slow as f64 * 1e6 / (threads * observations) as f64,
    }
}

fn instruction_count_run(spec: &str) {
    let Some((variant, count)) = spec.split_once(' ') else {
        panic!("CORSGUARD_ICOUNT wants \"<variant> <count>\", got {spec:?}");
    };
    let count: usize = count.parse().expect("count is a number");
    let durations = durations();
    let target =
        targets(variant, 1).pop().flatten().unwrap_or_else(|| Target::Own(Histogram::new(buckets())));
    observe_all(&target, &durations, count);
}

fn median_and_range(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    (median, values[0], values[n - 1])
}

fn main() {
    if let Ok(spec) = std::env::var("CORSGUARD_ICOUNT") {
        instruction_count_run(&spec);
        return;
    }
    let (mut rounds, mut observations) = (7usize, 10_000_000usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).expect("--rounds N"),
            "--observations" => {
                observations = args.next().and_then(|v| v.parse().ok()).expect("--observations N")
            }
            // `cargo bench` passes `--bench`; nothing else is expected.
            _ => {}
        }
    }
    let durations = Arc::new(durations());
    let cells: Vec<(&str, usize)> =
        VARIANTS.iter().flat_map(|v| [1, 2].map(|threads| (*v, threads))).collect();
    let mut results: Vec<Vec<Sample>> = cells.iter().map(|_| Vec::with_capacity(rounds)).collect();
    for round in 0..rounds {
        eprintln!("round {} of {rounds}...", round + 1);
        for (cell, (variant, threads)) in cells.iter().enumerate() {
            results[cell].push(measure(variant, *threads, observations, &durations));
        }
    }
    println!(
        "| variant | threads | wall ns/observation, median (range) | CPU ns/observation, median (range) | both threads running |"
    );
    println!("|---|---:|---:|---:|---:|");
    for ((variant, threads), samples) in cells.iter().zip(results) {
        let wall = median_and_range(samples.iter().map(|s| s.wall).collect());
        let cpu = median_and_range(samples.iter().map(|s| s.cpu).collect());
        let together = if *threads == 1 {
            "–".to_owned()
        } else {
            format!("{:.0} %", 100.0 * median_and_range(samples.iter().map(|s| s.together).collect()).0)
        };
        println!(
            "| {variant} | {threads} | {:.1} ({:.1}–{:.1}) | {:.1} ({:.1}–{:.1}) | {together} |",
            wall.0, wall.1, wall.2, cpu.0, cpu.1, cpu.2
        );
    }

    let spaced_variants: Vec<&str> = std::iter::once("loop").chain(VARIANTS).collect();
    let spaced_observations = 20_000;
    let mut spaced_results: Vec<Vec<Spaced>> = spaced_variants.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        eprintln!("2 threads, one observation every 10 µs: round {} of {rounds}...", round + 1);
        for (cell, variant) in spaced_variants.iter().enumerate() {
            spaced_results[cell].push(spaced(variant, 2, spaced_observations, &durations));
        }
    }
    let floor = median_and_range(spaced_results[0].iter().map(|s| s.mean).collect()).0;
    println!();
    println!(
        "2 threads, one observation every 10 µs each; time per observation minus the clock reads' {floor:.1} ns:"
    );
    println!();
    println!("| variant | ns/observation, median (range) | over 10 µs, per million observations (median) |");
    println!("|---|---:|---:|");
    for (variant, samples) in spaced_variants.iter().zip(spaced_results).skip(1) {
        let (median, low, high) = median_and_range(samples.iter().map(|s| s.mean - floor).collect());
        let slow = median_and_range(samples.iter().map(|s| s.slow_per_million).collect()).0;
        println!("| {variant} | {median:.1} ({low:.1}–{high:.1}) | {slow:.0} |");
    }
}
