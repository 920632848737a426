//! The files a container's bundle dir holds besides config.json: what the agent persists about
//! the container (meta.json), what the monitor reports when runc has started it or failed to
//! (status.json) and when it has exited (exit.json). Written atomically (temp file + rename),
//! so a reader never sees half a record.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub const CONFIG: &str = "config.json";
pub const META: &str = "meta.json";
pub const STATUS: &str = "status.json";
pub const EXIT: &str = "exit.json";
pub const MONITOR_PID: &str = "monitor.pid";
pub const MONITOR_LOG: &str = "monitor.log";
pub const CONTAINER_PID: &str = "container.pid";
pub const RUNC_LOG: &str = "runc.log";
pub const ROOTFS: &str = "rootfs";
pub const UPPER: &str = "upper";
pub const WORK: &str = "work";

/// What the agent knows about a container, kept for re-adoption.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub log_path: PathBuf,
    /// The container's cgroup (cgroupsPath).
    pub cgroup: String,
    pub created_unix_nanos: u128,
}

/// The monitor's word on the start.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub started: bool,
    #[serde(default)]
    pub pid: i32,
    #[serde(default)]
    pub started_unix_nanos: u128,
    /// runc's message when the start failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// How the container ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Exit {
    /// Exit status, or 128 + signal when killed by one.
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub oom_killed: bool,
    pub started_unix_nanos: u128,
    pub finished_unix_nanos: u128,
    pub reason: Option<String>,
    pub message: Option<String>,
}

pub fn now_nanos() -> u128 {
    to_nanos(SystemTime::now())
}

pub fn to_nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

pub fn from_nanos(n: u128) -> SystemTime {
    let secs = (n / 1_000_000_000) as u64;
    let nanos = (n % 1_000_000_000) as u32;
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// Writes `value` as JSON to `dir/name` through a temp file and a rename.
pub fn write<T: Serialize>(dir: &Path, name: &str, value: &T) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    serde_json::to_writer(&mut file, value).map_err(io::Error::other)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(name))
}

/// Reads `dir/name`; None when missing or unreadable.
pub fn read<T: DeserializeOwned>(dir: &Path, name: &str) -> Option<T> {
    let bytes = fs::read(dir.join(name)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Reads a pid file (runc's or the monitor's).
pub fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok().filter(|p: &i32| *p > 0)
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_atomically() {
        let dir = std::env::temp_dir().join(format!("mkrs-record-{:08x}", rand::random::<u32>()));
        fs::create_dir_all(&dir).expect("temp dir");
        let exit = Exit {
            exit_code: 137,
            signal: Some(9),
            oom_killed: true,
            started_unix_nanos: 1,
            finished_unix_nanos: 2,
            reason: None,
            message: None,
        };
        write(&dir, EXIT, &exit).expect("write");
        assert_eq!(read::<Exit>(&dir, EXIT), Some(exit));
        assert_eq!(read::<Status>(&dir, STATUS), None);
        assert!(!dir.join(format!(".{EXIT}.tmp")).exists());
        let t = SystemTime::now();
        assert_eq!(from_nanos(to_nanos(t)), t);
        assert!(alive(std::process::id() as i32));
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
