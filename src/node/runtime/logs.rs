//! The CRI container log format, written by the monitor: one line per line of output,
//! `<RFC3339Nano> <stdout|stderr> <P|F> <text>`, lines longer than the buffer split into
//! partial (P) pieces, and size-based rotation (`<log>.<YYYYMMDD-HHMMSS>`, the newest few kept).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Longest piece of a line written as one log line (containerd's 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;
/// Rotate when the file reaches this size (the kubelet's containerLogMaxSize).
pub const MAX_SIZE: u64 = 10 * 1024 * 1024;
/// Rotated files kept besides the live one (containerLogMaxFiles 5 in all).
pub const MAX_ROTATED: usize = 4;

/// An open CRI log file shared by the stdout and stderr readers.
pub struct CriLog {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
}

impl CriLog {
    pub fn open(path: &Path, max_size: u64) -> io::Result<CriLog> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(CriLog { path: path.to_path_buf(), file, size, max_size })
    }

    /// Writes one log line; `partial` marks a piece of a longer line.
    pub fn write_line(&mut self, stream: &str, partial: bool, text: &[u8]) -> io::Result<()> {
        if self.size >= self.max_size {
            self.rotate()?;
        }
        let head = format!("{} {stream} {} ", timestamp(), if partial { "P" } else { "F" });
        let mut line = Vec::with_capacity(head.len() + text.len() + 1);
        line.extend_from_slice(head.as_bytes());
        line.extend_from_slice(text);
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
        let mut target = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        let mut n = 1;
        while target.exists() {
            target = PathBuf::from(format!("{}.{stamp}.{n}", self.path.display()));
            n += 1;
        }
        fs::rename(&self.path, &target)?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        self.prune();
        Ok(())
    }

    /// Deletes the oldest rotated files beyond MAX_ROTATED.
    fn prune(&self) {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else { return };
        let prefix = format!("{}.", name.to_string_lossy());
        let mut rotated: Vec<PathBuf> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        rotated.sort_by_key(|p| fs::metadata(p).and_then(|m| m.modified()).ok());
        while rotated.len() > MAX_ROTATED {
            let old = rotated.remove(0);
            let _ = fs::remove_file(old);
        }
    }
}

/// RFC 3339 in UTC with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano).
pub fn timestamp() -> String {
    jiff::Timestamp::now().to_string()
}

/// Copies a stream into the log until EOF, splitting lines as the CRI format wants.
pub fn pump(mut input: impl Read, stream: &str, log: &Arc<Mutex<CriLog>>) {
    let mut buf = vec![0u8; MAX_LINE];
    let mut filled = 0;
    loop {
        let n = match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        filled += n;
        let mut start = 0;
        while let Some(pos) = buf[start..filled].iter().position(|b| *b == b'\n') {
            emit(log, stream, false, &buf[start..start + pos]);
            start += pos + 1;
        }
        if start == 0 && filled == buf.len() {
            emit(log, stream, true, &buf[..filled]);
            filled = 0;
        } else {
            buf.copy_within(start..filled, 0);
            filled -= start;
        }
    }
    if filled > 0 {
        emit(log, stream, false, &buf[..filled]);
    }
}

fn emit(log: &Arc<Mutex<CriLog>>, stream: &str, partial: bool, text: &[u8]) {
    let mut log = match log.lock() {
        Ok(l) => l,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Err(err) = log.write_line(stream, partial, text) {
        eprintln!("writing {}: {err}", log.path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mkrs-logs-{:08x}", rand::random::<u32>()));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn lines_are_cri_formatted_and_long_lines_split() {
        let dir = temp_dir();
        let path = dir.join("0.log");
        let log = Arc::new(Mutex::new(CriLog::open(&path, MAX_SIZE).expect("open")));
        let mut input = b"hello\nworld\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend(b"\ntail");
        pump(&input[..], "stdout", &log);
        let text = fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        let fields: Vec<Vec<&str>> = lines.iter().map(|l| l.splitn(4, ' ').collect()).collect();
        assert!(jiff::Timestamp::from_str_checked(fields[0][0]));
        assert_eq!(&fields[0][1..], ["stdout", "F", "hello"]);
        assert_eq!(&fields[1][1..], ["stdout", "F", "world"]);
        assert_eq!(fields[2][2], "P");
        assert_eq!(fields[2][3].len(), MAX_LINE);
        assert_eq!((fields[3][2], fields[3][3].len()), ("F", 10));
        assert_eq!(&fields[4][1..], ["stdout", "F", "tail"]);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn logs_rotate_by_size_and_keep_a_few() {
        let dir = temp_dir();
        let path = dir.join("0.log");
        let mut log = CriLog::open(&path, 100).expect("open");
        for i in 0..40 {
            log.write_line("stderr", false, format!("line {i} padding padding padding padding").as_bytes()).expect("write");
        }
        let files = fs::read_dir(&dir).expect("dir").count();
        assert_eq!(files, 1 + MAX_ROTATED);
        assert!(fs::metadata(&path).expect("live file").len() <= 200);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    trait Checked {
        fn from_str_checked(s: &str) -> bool;
    }
    impl Checked for jiff::Timestamp {
        fn from_str_checked(s: &str) -> bool {
            s.ends_with('Z') && s.parse::<jiff::Timestamp>().is_ok()
        }
    }
}
