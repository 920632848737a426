//! `kubectl logs` on the node: picks the container attempt from the pod status as the
//! kubelet's `validateContainerLogStatus` does, finds its CRI log file
//! (`<pod-log-dir>/<ns>_<pod>_<uid>/<container>/<attempt>.log`) and streams it as the kubelet's
//! log reader: partial lines joined, timestamps, since, tail, byte limit, and following across
//! rotation until the container exits or the client goes away.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use tokio::sync::mpsc;

use crate::api::streams::{LogOptions, LogStream, PodLogs, StreamError};
use crate::node::profile::NodeProfile;
use crate::node::runtime::{Runtime, State};

/// How often a follower looks for new lines, rotation and the container's exit.
const POLL: Duration = Duration::from_millis(200);
/// Bytes read from the file at a time.
const BLOCK: usize = 64 * 1024;
/// Output gathered before it is sent as one chunk.
const CHUNK: usize = 32 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {container:?} in pod {pod:?} is not available")]
    NotAvailable { container: String, pod: String },
    #[error("previous terminated container {container:?} in pod {pod:?} not found")]
    NoPrevious { container: String, pod: String },
    #[error("container {container:?} in pod {pod:?} is terminated")]
    Terminated { container: String, pod: String },
    #[error("container {container:?} in pod {pod:?} is waiting to start: {why}")]
    Waiting { container: String, pod: String, why: String },
    #[error("container {container:?} in pod {pod:?} is waiting to start - no logs yet")]
    NoLogsYet { container: String, pod: String },
    #[error("failed to try resolving symlinks in path {:?}: lstat {}: no such file or directory", path.display().to_string(), path.display())]
    Missing { path: PathBuf },
    #[error("failed to open log file {:?}: {source}", path.display().to_string())]
    Open { path: PathBuf, #[source] source: io::Error },
}

impl From<Error> for StreamError {
    /// The kubelet answers all of these with 400; the apiserver relays them as BadRequest.
    fn from(e: Error) -> StreamError {
        StreamError::BadRequest(e.to_string())
    }
}

/// The kubelet's log endpoint for the pods of one node.
pub struct NodeLogs {
    node_name: String,
    pod_log_dir: PathBuf,
    runtime: Runtime,
}

impl NodeLogs {
    pub fn new(node_name: &str, profile: &NodeProfile, runtime: Runtime) -> NodeLogs {
        NodeLogs { node_name: node_name.to_string(), pod_log_dir: profile.pod_log_dir.clone(), runtime }
    }
}

impl PodLogs for NodeLogs {
    fn node_name(&self) -> &str {
        &self.node_name
    }

    fn logs(&self, pod: &Pod, opts: &LogOptions) -> Result<LogStream, StreamError> {
        let chosen = choose(pod, &opts.container, opts.previous)?;
        let path = attempt_path(&self.pod_log_dir, pod, &opts.container, &chosen);
        let reader = Reader::open(&path, opts)?;
        let (tx, rx) = mpsc::channel(16);
        let runtime = self.runtime.clone();
        let follow = opts.follow;
        let span = tracing::debug_span!("container_logs", path = %path.display(), container = %chosen.id, follow);
        let id = chosen.id;
        let alive = move || {
            let (runtime, id) = (runtime.clone(), id.clone());
            async move { running(&runtime, &id).await }
        };
        tokio::spawn(tracing::Instrument::instrument(stream(reader, tx, follow, alive), span));
        Ok(rx)
    }
}

/// The attempt whose log is read: its runtime id and how it relates to the status.
#[derive(Debug, Clone, PartialEq)]
struct Chosen {
    /// Runtime container id (without the `runc://` prefix).
    id: String,
    /// The current attempt (`restartCount`) or the one before it.
    current: bool,
    restart_count: i32,
}

fn find_status<'a>(pod: &'a Pod, container: &str) -> Option<&'a ContainerStatus> {
    let st = pod.status.as_ref()?;
    [&st.container_statuses, &st.init_container_statuses, &st.ephemeral_container_statuses]
        .into_iter()
        .flatten()
        .flatten()
        .find(|c| c.name == container)
}

fn strip_runtime(id: &str) -> String {
    id.split_once("://").map(|(_, id)| id).unwrap_or(id).to_string()
}

/// The kubelet's `validateContainerLogStatus`: which attempt a request reads, or why none.
fn choose(pod: &Pod, container: &str, previous: bool) -> Result<Chosen, Error> {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let names = || (container.to_string(), pod_name.clone());
    let Some(cs) = find_status(pod, container) else {
        let (container, pod) = names();
        return Err(Error::NotAvailable { container, pod });
    };
    let state = cs.state.clone().unwrap_or_default();
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let last_id = last.and_then(|t| t.container_id.clone()).filter(|id| !id.is_empty());
    let current_id = cs.container_id.clone().unwrap_or_default();
    let id = if previous {
        let Some(id) = last_id else {
            let (container, pod) = names();
            return Err(Error::NoPrevious { container, pod });
        };
        id
    } else if state.running.is_some() {
        current_id.clone()
    } else if let Some(t) = &state.terminated {
        match t.container_id.clone().filter(|id| !id.is_empty()).or(last_id) {
            Some(id) => id,
            None => {
                let (container, pod) = names();
                return Err(Error::Terminated { container, pod });
            }
        }
    } else if last.is_some() {
        let Some(id) = last_id else {
            let (container, pod) = names();
            return Err(Error::Terminated { container, pod });
        };
        id
    } else if let Some(w) = &state.waiting {
        let why = match w.reason.as_deref().unwrap_or("") {
            "ErrImagePull" => "image can't be pulled".to_string(),
            "ImagePullBackOff" => "trying and failing to pull image".to_string(),
            reason => reason.to_string(),
        };
        let (container, pod) = names();
        return Err(Error::Waiting { container, pod, why });
    } else {
        let (container, pod) = names();
        return Err(Error::NoLogsYet { container, pod });
    };
    Ok(Chosen { current: id == current_id, id: strip_runtime(&id), restart_count: cs.restart_count })
}

/// The log file of the chosen attempt: `restartCount.log` for the current container, else the
/// newest earlier attempt's file (normally `restartCount-1`).
fn attempt_path(dir: &Path, pod: &Pod, container: &str, chosen: &Chosen) -> PathBuf {
    let file = |n: i32| super::spec::log_path(dir, pod, container, n);
    if chosen.current {
        return file(chosen.restart_count);
    }
    (0..chosen.restart_count).rev().map(file).find(|p| p.exists()).unwrap_or_else(|| file(chosen.restart_count - 1))
}

/// Go's RFC3339Nano in UTC: nanoseconds with trailing zeros trimmed.
fn rfc3339_nano(ts: jiff::Timestamp) -> String {
    let base = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = ts.subsec_nanosecond();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// One parsed CRI log line: its time and its text (with `\n` unless partial or incomplete).
fn parse_line(line: &[u8]) -> Option<(jiff::Timestamp, &[u8])> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let ts = std::str::from_utf8(fields.next()?).ok()?.parse::<jiff::Timestamp>().ok()?;
    let stream = fields.next()?;
    if stream != b"stdout" && stream != b"stderr" {
        return None;
    }
    let tag = fields.next()?;
    let mut text = fields.next()?;
    let partial = tag.split(|b| *b == b':').next() == Some(b"P");
    if partial && text.last() == Some(&b'\n') {
        text = &text[..text.len() - 1];
    }
    Some((ts, text))
}

/// The kubelet's log writer: since, timestamps on new lines, the byte limit.
#[derive(Debug)]
struct Formatter {
    since: Option<jiff::Timestamp>,
    timestamps: bool,
    remain: i64,
    new_line: bool,
}

impl Formatter {
    fn new(opts: &LogOptions) -> Formatter {
        Formatter { since: opts.since, timestamps: opts.timestamps, remain: opts.limit_bytes.unwrap_or(i64::MAX), new_line: true }
    }

    /// Writes one parsed line to `out`; false when the byte limit is reached.
    fn write(&mut self, ts: jiff::Timestamp, text: &[u8], out: &mut Vec<u8>) -> bool {
        let add_prefix = self.new_line;
        self.new_line = text.last().is_none_or(|b| *b == b'\n');
        if self.since.is_some_and(|since| ts < since) {
            return true;
        }
        let mut line = Vec::with_capacity(text.len() + 32);
        if self.timestamps && add_prefix {
            line.extend_from_slice(rfc3339_nano(ts).as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(text);
        let n = line.len().min(usize::try_from(self.remain).unwrap_or(usize::MAX));
        out.extend_from_slice(&line[..n]);
        self.remain -= n as i64;
        self.remain > 0
    }
}

/// Start offset of the last `n` lines of a file (the kubelet's `FindTailLineStartIndex`).
fn tail_start(f: &mut File, n: i64) -> io::Result<u64> {
    if n < 0 {
        return Ok(0);
    }
    let mut right = f.seek(SeekFrom::End(0))?;
    // Newlines seen from the end; the line start is just after newline number n+1.
    let mut seen: i64 = 0;
    let mut buf = vec![0u8; BLOCK];
    while right > 0 {
        let left = right.saturating_sub(BLOCK as u64);
        let len = (right - left) as usize;
        f.seek(SeekFrom::Start(left))?;
        f.read_exact(&mut buf[..len])?;
        for i in (0..len).rev() {
            if buf[i] == b'\n' {
                seen += 1;
                if seen > n {
                    return Ok(left + i as u64 + 1);
                }
            }
        }
        right = left;
    }
    Ok(0)
}

/// What a read step found.
#[derive(Debug, PartialEq)]
enum Step {
    More,
    Eof,
    /// The tail or byte limit is reached: nothing more will be written.
    Done,
}

/// Reads a CRI log file incrementally, carrying an incomplete last line between reads.
struct Reader {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
    fmt: Formatter,
    /// Lines still to write when tailing without following.
    limited: Option<i64>,
}

impl Reader {
    fn open(path: &Path, opts: &LogOptions) -> Result<Reader, Error> {
        let mut file = File::open(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => Error::Missing { path: path.to_path_buf() },
            _ => Error::Open { path: path.to_path_buf(), source },
        })?;
        let tail = opts.tail_lines.unwrap_or(-1);
        let start = tail_start(&mut file, tail).map_err(|source| Error::Open { path: path.to_path_buf(), source })?;
        file.seek(SeekFrom::Start(start)).map_err(|source| Error::Open { path: path.to_path_buf(), source })?;
        let limited = (tail >= 0 && !opts.follow).then_some(tail);
        Ok(Reader { path: path.to_path_buf(), file, pending: Vec::new(), fmt: Formatter::new(opts), limited })
    }

    /// Writes one line (with its `\n` if complete); false when nothing more may be written.
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) -> bool {
        if self.limited == Some(0) {
            return false;
        }
        let Some((ts, text)) = parse_line(line) else {
            tracing::debug!(path = %self.path.display(), "skipping a malformed log line");
            return true;
        };
        if !self.fmt.write(ts, text, out) {
            return false;
        }
        if let Some(n) = self.limited.as_mut() {
            *n -= 1;
        }
        self.limited != Some(0)
    }

    /// Reads one block and writes the complete lines in it.
    fn step(&mut self, out: &mut Vec<u8>) -> io::Result<Step> {
        if self.limited == Some(0) {
            return Ok(Step::Done);
        }
        let mut buf = vec![0u8; BLOCK];
        let n = match self.file.read(&mut buf) {
            Ok(0) => return Ok(Step::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Step::More),
            Err(e) => return Err(e),
        };
        self.pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(pos) = self.pending[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos + 1;
            let line = self.pending[start..end].to_vec();
            start = end;
            if !self.line(&line, out) {
                self.pending.clear();
                return Ok(Step::Done);
            }
        }
        self.pending.drain(..start);
        Ok(Step::More)
    }

    /// Reads to the end of the file; true if the limit was reached.
    fn drain(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        loop {
            match self.step(out)? {
                Step::More => {}
                Step::Eof => return Ok(false),
                Step::Done => return Ok(true),
            }
        }
    }

    /// Writes an incomplete last line, as the kubelet does when it stops reading.
    fn finish(&mut self, out: &mut Vec<u8>) {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.line(&rest, out);
        }
    }

    /// True when the path now names another file (the log was rotated).
    fn rotated(&self) -> bool {
        match (std::fs::metadata(&self.path), self.file.metadata()) {
            (Ok(now), Ok(ours)) => now.ino() != ours.ino() || now.dev() != ours.dev(),
            _ => false,
        }
    }

    /// Continues in the new file after a rotation.
    fn reopen(&mut self) -> io::Result<()> {
        self.file = File::open(&self.path)?;
        self.pending.clear();
        Ok(())
    }
}

/// Sends what `out` holds; false when the client is gone.
async fn flush(tx: &mpsc::Sender<Bytes>, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    tx.send(Bytes::from(std::mem::take(out))).await.is_ok()
}

async fn running(runtime: &Runtime, id: &str) -> bool {
    matches!(runtime.state(id).await, State::Running { .. } | State::Created)
}

/// Streams the log to `tx`: to the end, or following until the container exits.
async fn stream<F, Fut>(mut reader: Reader, tx: mpsc::Sender<Bytes>, follow: bool, mut alive: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut out = Vec::new();
    loop {
        let step = match reader.step(&mut out) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(path = %reader.path.display(), error = %e, "reading a container log failed");
                let _ = flush(&tx, &mut out).await;
                return;
            }
        };
        match step {
            Step::More => {
                if out.len() >= CHUNK && !flush(&tx, &mut out).await {
                    return;
                }
            }
            Step::Done => {
                let _ = flush(&tx, &mut out).await;
                return;
            }
            Step::Eof if !follow => {
                reader.finish(&mut out);
                let _ = flush(&tx, &mut out).await;
                return;
            }
            Step::Eof => {
                if !flush(&tx, &mut out).await {
                    return;
                }
                if reader.rotated() {
                    if let Err(e) = switch_file(&mut reader, &mut out) {
                        tracing::warn!(path = %reader.path.display(), error = %e, "following a rotated log failed");
                        return;
                    }
                    continue;
                }
                if !alive().await {
                    // The monitor writes the last lines before the exit record: one more pass
                    // gets everything.
                    let done = reader.drain(&mut out).unwrap_or(true);
                    if !done && reader.rotated() && switch_file(&mut reader, &mut out).is_ok() {
                        let _ = reader.drain(&mut out);
                    }
                    reader.finish(&mut out);
                    let _ = flush(&tx, &mut out).await;
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = tx.closed() => return,
                }
            }
        }
    }
}

/// Reads what is left of the rotated file, then moves to the new one.
fn switch_file(reader: &mut Reader, out: &mut Vec<u8>) -> io::Result<()> {
    reader.drain(out)?;
    reader.finish(out);
    reader.reopen()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, PodStatus};
    use std::io::Write;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mkrs-podlogs-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    const LOG: &str = "2025-01-01T00:00:01.5Z stdout F one\n\
2025-01-01T00:00:02Z stderr F two\n\
2025-01-01T00:00:03.000000100Z stdout P thr\n\
2025-01-01T00:00:03.2Z stdout F ee\n\
2025-01-01T00:00:04Z stdout F four\n";

    fn read_all(text: &str, opts: &LogOptions) -> String {
        let dir = temp_dir();
        let path = dir.join("0.log");
        std::fs::write(&path, text).expect("write");
        let mut r = Reader::open(&path, opts).expect("open");
        let mut out = Vec::new();
        let _ = r.drain(&mut out).expect("read");
        r.finish(&mut out);
        std::fs::remove_dir_all(&dir).expect("cleanup");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn lines_are_joined_and_streams_interleaved() {
        assert_eq!(read_all(LOG, &LogOptions::default()), "one\ntwo\nthree\nfour\n");
    }

    #[test]
    fn timestamps_prefix_each_whole_line_as_go_prints_them() {
        let opts = LogOptions { timestamps: true, ..Default::default() };
        assert_eq!(
            read_all(LOG, &opts),
            "2025-01-01T00:00:01.5Z one\n2025-01-01T00:00:02Z two\n2025-01-01T00:00:03.0000001Z three\n2025-01-01T00:00:04Z four\n"
        );
    }

    #[test]
    fn tail_since_and_limit() {
        let tail = |n| read_all(LOG, &LogOptions { tail_lines: Some(n), ..Default::default() });
        assert_eq!(tail(0), "");
        assert_eq!(tail(1), "four\n");
        assert_eq!(tail(2), "ee\nfour\n");
        assert_eq!(tail(10), "one\ntwo\nthree\nfour\n");
        let since = Some("2025-01-01T00:00:02Z".parse().expect("time"));
        assert_eq!(read_all(LOG, &LogOptions { since, ..Default::default() }), "two\nthree\nfour\n");
        assert_eq!(read_all(LOG, &LogOptions { limit_bytes: Some(6), ..Default::default() }), "one\ntw");
    }

    #[test]
    fn an_incomplete_last_line_is_written_at_the_end() {
        assert_eq!(read_all("2025-01-01T00:00:01Z stdout F a\n2025-01-01T00:00:02Z stdout F b", &LogOptions::default()), "a\nb");
        assert_eq!(read_all("garbage\n2025-01-01T00:00:01Z stdout F a\n", &LogOptions::default()), "a\n");
    }

    fn status(state: ContainerState, last: Option<ContainerStateTerminated>, restarts: i32) -> Pod {
        Pod {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u".into()),
                ..Default::default()
            },
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: "c".into(),
                    container_id: Some("runc://cur".into()),
                    state: Some(state),
                    last_state: Some(ContainerState { terminated: last, ..Default::default() }),
                    restart_count: restarts,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn terminated(id: &str) -> ContainerStateTerminated {
        ContainerStateTerminated { container_id: Some(format!("runc://{id}")), exit_code: 1, ..Default::default() }
    }

    #[test]
    fn the_attempt_is_chosen_as_the_kubelet_does() {
        let running = ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() };
        let pod = status(running.clone(), Some(terminated("old")), 2);
        assert_eq!(choose(&pod, "c", false).expect("current"), Chosen { id: "cur".into(), current: true, restart_count: 2 });
        assert_eq!(choose(&pod, "c", true).expect("previous"), Chosen { id: "old".into(), current: false, restart_count: 2 });
        let e = choose(&status(running, None, 0), "c", true).expect_err("no previous");
        assert_eq!(e.to_string(), r#"previous terminated container "c" in pod "p" not found"#);
        let e = choose(&pod, "x", false).expect_err("unknown");
        assert_eq!(e.to_string(), r#"container "x" in pod "p" is not available"#);
        let waiting = |reason: &str| ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), ..Default::default() }),
            ..Default::default()
        };
        let e = choose(&status(waiting("ContainerCreating"), None, 0), "c", false).expect_err("waiting");
        assert_eq!(e.to_string(), r#"container "c" in pod "p" is waiting to start: ContainerCreating"#);
        let e = choose(&status(waiting("ImagePullBackOff"), None, 0), "c", false).expect_err("waiting");
        assert_eq!(e.to_string(), r#"container "c" in pod "p" is waiting to start: trying and failing to pull image"#);
        // CrashLoopBackOff: the last attempt (the current id) for both.
        let backoff = status(waiting("CrashLoopBackOff"), Some(terminated("cur")), 3);
        assert!(choose(&backoff, "c", false).expect("last").current);
        assert!(choose(&backoff, "c", true).expect("previous").current);
    }

    #[test]
    fn previous_attempt_file_is_the_newest_before_the_current() {
        let dir = temp_dir();
        let pod = status(ContainerState::default(), None, 3);
        let chosen = Chosen { id: "x".into(), current: false, restart_count: 3 };
        let base = dir.join("ns_p_u/c");
        std::fs::create_dir_all(&base).expect("dir");
        std::fs::write(base.join("1.log"), "").expect("write");
        assert_eq!(attempt_path(&dir, &pod, "c", &chosen), base.join("1.log"));
        std::fs::write(base.join("2.log"), "").expect("write");
        assert_eq!(attempt_path(&dir, &pod, "c", &chosen), base.join("2.log"));
        assert_eq!(attempt_path(&dir, &pod, "c", &Chosen { current: true, ..chosen }), base.join("3.log"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[tokio::test]
    async fn following_ends_when_the_container_exits_or_the_client_leaves() {
        let dir = temp_dir();
        let path = dir.join("0.log");
        std::fs::write(&path, "2025-01-01T00:00:01Z stdout F a\n").expect("write");
        let opts = LogOptions { follow: true, ..Default::default() };
        let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let r = running.clone();
        let alive = move || {
            let r = r.clone();
            async move { r.load(std::sync::atomic::Ordering::SeqCst) }
        };
        let (tx, mut rx) = mpsc::channel(4);
        let task = tokio::spawn(stream(Reader::open(&path, &opts).expect("open"), tx, true, alive.clone()));
        assert_eq!(rx.recv().await.expect("first"), Bytes::from_static(b"a\n"));
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("append");
        f.write_all(b"2025-01-01T00:00:02Z stdout F b\n").expect("write");
        assert_eq!(rx.recv().await.expect("second"), Bytes::from_static(b"b\n"));
        // The last line is written just before the exit is seen: it still arrives.
        f.write_all(b"2025-01-01T00:00:03Z stdout F c\n").expect("write");
        running.store(false, std::sync::atomic::Ordering::SeqCst);
        let mut rest = Vec::new();
        while let Some(b) = rx.recv().await {
            rest.extend_from_slice(&b);
        }
        assert_eq!(rest, b"c\n");
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("ended").expect("join");

        running.store(true, std::sync::atomic::Ordering::SeqCst);
        let (tx, rx) = mpsc::channel(4);
        let task = tokio::spawn(stream(Reader::open(&path, &opts).expect("open"), tx, true, alive));
        drop(rx);
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("a follower without a client ends").expect("join");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn following_continues_across_rotation() {
        let dir = temp_dir();
        let path = dir.join("0.log");
        std::fs::write(&path, "2025-01-01T00:00:01Z stdout F a\n").expect("write");
        let mut r = Reader::open(&path, &LogOptions { follow: true, ..Default::default() }).expect("open");
        let mut out = Vec::new();
        assert!(!r.drain(&mut out).expect("read"));
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).expect("append");
        f.write_all(b"2025-01-01T00:00:02Z stdout F b\n").expect("write");
        std::fs::rename(&path, dir.join("0.log.20250101-000002")).expect("rotate");
        std::fs::write(&path, "2025-01-01T00:00:03Z stdout F c\n").expect("new file");
        assert!(r.rotated());
        switch_file(&mut r, &mut out).expect("switch");
        assert!(!r.drain(&mut out).expect("read"));
        assert_eq!(String::from_utf8(out).expect("utf8"), "a\nb\nc\n");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
