//! Monitoring shared by all the connections of a server: live counts per state, totals by how
//! connections ended, close codes, and how long connections spend in CLOSING and live in all.
//!
//! The counters are what the project was started for: under churn, a server must show how many
//! connections it holds in each state and how long closing takes, and be able to let them all go.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use ws_proto::{CloseCode, Closed, Outcome};

/// Upper bounds (ms) of the duration histogram buckets; the last bucket is unbounded.
const BUCKETS_MS: [u64; 17] = [
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    30_000,
    60_000,
    u64::MAX,
];

/// A fixed-bucket histogram of durations.
#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: [u64; 17],
    count: u64,
    max: Duration,
}

impl Histogram {
    fn record(&mut self, d: Duration) {
        let ms = d.as_millis().min(u128::from(u64::MAX - 1)) as u64;
        let i = BUCKETS_MS.iter().position(|&b| ms < b).unwrap_or(16);
        self.counts[i] += 1;
        self.count += 1;
        self.max = self.max.max(d);
    }

    /// The upper bound of the bucket holding quantile `q` (or the max, if smaller).
    fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_millis(BUCKETS_MS[i]).min(self.max);
            }
        }
        self.max
    }

    fn summary(&self) -> DurationSummary {
        DurationSummary {
            count: self.count,
            p50: self.quantile(0.5),
            p99: self.quantile(0.99),
            max: self.max,
        }
    }
}

/// Count and quantiles of a duration distribution (quantiles are histogram bucket bounds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DurationSummary {
    /// How many durations were recorded.
    pub count: u64,
    /// Median (bucket upper bound).
    pub p50: Duration,
    /// 99th percentile (bucket upper bound).
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
}

#[derive(Default)]
struct Totals {
    closed: BTreeMap<&'static str, u64>,
    codes_sent: BTreeMap<u16, u64>,
    codes_received: BTreeMap<u16, u64>,
    closing: Histogram,
    lifetime: Histogram,
}

/// What the monitor can ask of a live connection.
pub(crate) trait Control: Send + Sync {
    /// Starts the close handshake with `code` (if open) and wakes the connection's task.
    fn close(&self, code: CloseCode, reason: &str);
    /// Drops the connection now.
    fn terminate(&self);
}

#[derive(Default)]
struct Inner {
    connecting: AtomicI64,
    open: AtomicI64,
    closing: AtomicI64,
    totals: Mutex<Totals>,
    live: Mutex<Vec<Weak<dyn Control>>>,
}

/// Counters shared by every connection given this monitor in its `Config`. Cloning is cheap
/// (all clones share the counters); [`snapshot`](Self::snapshot) is a consistent-enough copy.
#[derive(Clone, Default)]
pub struct Monitor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("snapshot", &self.snapshot())
            .finish()
    }
}

impl PartialEq for Monitor {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Monitor {}

/// The state of a server's connections at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Connections in the opening handshake.
    pub connecting: u64,
    /// Open connections.
    pub open: u64,
    /// Connections in the close handshake.
    pub closing: u64,
    /// Connections ended, by outcome (`Clean`, `CloseTimeout`, `DeadPeer`, `ProtocolError`,
    /// `Terminated`, `TransportError`, `UnexpectedEof`, `EofTimeout`).
    pub closed: BTreeMap<String, u64>,
    /// Close codes we sent, with counts.
    pub codes_sent: BTreeMap<u16, u64>,
    /// Close codes we received, with counts.
    pub codes_received: BTreeMap<u16, u64>,
    /// Time from entering CLOSING to CLOSED.
    pub closing_time: DurationSummary,
    /// Time from open to CLOSED.
    pub lifetime: DurationSummary,
}

impl Snapshot {
    /// The snapshot as a JSON object (what `echo_server` serves at `GET /stats`).
    pub fn to_json(&self) -> String {
        fn map<K: std::fmt::Display>(m: &BTreeMap<K, u64>) -> String {
            let items: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", items.join(","))
        }
        fn durations(d: &DurationSummary) -> String {
            format!(
                "{{\"count\":{},\"p50_ms\":{},\"p99_ms\":{},\"max_ms\":{:.3}}}",
                d.count,
                d.p50.as_millis(),
                d.p99.as_millis(),
                d.max.as_secs_f64() * 1000.0
            )
        }
        let mut out = String::new();
        let _ = write!(
            out,
            "{{\"connecting\":{},\"open\":{},\"closing\":{},\"closed\":{},\"codes_sent\":{},\
             \"codes_received\":{},\"closing_time\":{},\"lifetime\":{}}}",
            self.connecting,
            self.open,
            self.closing,
            map(&self.closed),
            map(&self.codes_sent),
            map(&self.codes_received),
            durations(&self.closing_time),
            durations(&self.lifetime)
        );
        out
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Clean => "Clean",
        Outcome::EofTimeout => "EofTimeout",
        Outcome::CloseTimeout => "CloseTimeout",
        Outcome::DeadPeer => "DeadPeer",
        Outcome::ProtocolError(_) => "ProtocolError",
        Outcome::Terminated => "Terminated",
        Outcome::TransportError => "TransportError",
        Outcome::UnexpectedEof => "UnexpectedEof",
        _ => "Other",
    }
}

impl Monitor {
    /// A new set of counters.
    pub fn new() -> Monitor {
        Monitor::default()
    }

    /// The current counts and distributions.
    pub fn snapshot(&self) -> Snapshot {
        let totals = self
            .inner
            .totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = |a: &AtomicI64| a.load(Ordering::Relaxed).max(0) as u64;
        Snapshot {
            connecting: count(&self.inner.connecting),
            open: count(&self.inner.open),
            closing: count(&self.inner.closing),
            closed: totals
                .closed
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            codes_sent: totals.codes_sent.clone(),
            codes_received: totals.codes_received.clone(),
            closing_time: totals.closing.summary(),
            lifetime: totals.lifetime.summary(),
        }
    }

    /// Connections open or closing right now.
    pub fn live(&self) -> u64 {
        let snapshot = self.snapshot();
        snapshot.open + snapshot.closing
    }

    /// Starts the close handshake with `code` on every live connection (graceful shutdown sends
    /// 1001, going away). Returns how many were asked.
    pub fn close_all(&self, code: CloseCode, reason: &str) -> usize {
        let live = self.live_controls();
        for control in &live {
            control.close(code, reason);
        }
        live.len()
    }

    /// Drops every live connection at once. Returns how many there were.
    pub fn terminate_all(&self) -> usize {
        let live = self.live_controls();
        for control in &live {
            control.terminate();
        }
        live.len()
    }

    fn live_controls(&self) -> Vec<Arc<dyn Control>> {
        let mut list = self
            .inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        list.retain(|w| w.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    }

    pub(crate) fn handshake_started(&self) -> ConnectingGuard {
        self.inner.connecting.fetch_add(1, Ordering::Relaxed);
        ConnectingGuard(self.clone())
    }

    pub(crate) fn opened(&self, control: Weak<dyn Control>) {
        self.inner.open.fetch_add(1, Ordering::Relaxed);
        self.inner
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(control);
    }

    pub(crate) fn closing(&self) {
        self.inner.open.fetch_sub(1, Ordering::Relaxed);
        self.inner.closing.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection ended: counted as closing (`was_closing`) or open until now; `closing_for`
    /// is how long its close handshake took, if it had one.
    pub(crate) fn closed(
        &self,
        closed: &Closed,
        was_closing: bool,
        closing_for: Option<Duration>,
        lifetime: Duration,
    ) {
        match was_closing {
            true => self.inner.closing.fetch_sub(1, Ordering::Relaxed),
            false => self.inner.open.fetch_sub(1, Ordering::Relaxed),
        };
        let mut totals = self
            .inner
            .totals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *totals
            .closed
            .entry(outcome_name(closed.outcome))
            .or_default() += 1;
        if let Some(sent) = &closed.sent {
            *totals.codes_sent.entry(sent.code.0).or_default() += 1;
        }
        if let Some(received) = &closed.received {
            *totals.codes_received.entry(received.code.0).or_default() += 1;
        }
        if let Some(d) = closing_for {
            totals.closing.record(d);
        }
        totals.lifetime.record(lifetime);
    }
}

/// Counts a connection in CONNECTING for as long as it lives.
pub(crate) struct ConnectingGuard(Monitor);

impl Drop for ConnectingGuard {
    fn drop(&mut self) {
        self.0.inner.connecting.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_bucket_bounds_capped_by_the_max() {
        let mut h = Histogram::default();
        for ms in [1u64, 3, 3, 7, 150] {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 5);
        assert_eq!(s.p50, Duration::from_millis(5));
        assert_eq!(s.p99, Duration::from_millis(150));
        assert_eq!(s.max, Duration::from_millis(150));
    }
}

/// What a graceful shutdown did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections asked to close (Close 1001 sent).
    pub asked: usize,
    /// Of those, how many finished their close handshake within the grace period.
    pub closed: usize,
    /// Connections still live at the deadline, terminated.
    pub terminated: usize,
}

/// Graceful shutdown of every connection of `monitor` (stop accepting first): Close 1001 (going
/// away) to each, wait up to `grace` for the close handshakes, then terminate what is left.
pub async fn graceful_shutdown<R: crate::Runtime>(
    monitor: &Monitor,
    grace: Duration,
) -> ShutdownReport {
    let asked = monitor.close_all(CloseCode::GOING_AWAY, "server shutting down");
    let deadline = crate::shared::instant_after(R::now(), grace);
    while monitor.live() > 0 && R::now() < deadline {
        let step = (R::now() + Duration::from_millis(10)).min(deadline);
        let mut timer = R::timer(step);
        std::future::poll_fn(|cx| R::poll_timer(&mut timer, cx)).await;
    }
    let terminated = monitor.terminate_all();
    ShutdownReport {
        asked,
        closed: asked.saturating_sub(terminated),
        terminated,
    }
}
