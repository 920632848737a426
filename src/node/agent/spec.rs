//! A container's runtime spec from the pod, the container and its image: the command line
//! (command/args against the image's entrypoint/cmd, `$(VAR)` expansion), environment,
//! working dir, user and groups, securityContext (capabilities, privileged, read-only root,
//! no-new-privileges, runAsNonRoot), resources and OOM score.

use std::collections::HashMap;
use std::path::Path;

use k8s_openapi::api::core::v1::{Container, Pod};

use super::env::expand;
use crate::node::images::Image;

/// The process's argv: Kubernetes' rules for command/args against the image's
/// entrypoint/cmd.
pub fn argv(c: &Container, image: &Image, env: &[(String, String)]) -> Vec<String> {
    let vars: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let x = |v: &Vec<String>| v.iter().map(|a| expand(a, |name| vars.get(name).map(|v| v.to_string()))).collect::<Vec<_>>();
    let entrypoint = image.config.entrypoint.clone();
    let cmd = image.config.cmd.clone();
    match (&c.command, &c.args) {
        (Some(command), Some(args)) if !command.is_empty() => [x(command), x(args)].concat(),
        (Some(command), _) if !command.is_empty() => x(command),
        (_, Some(args)) if !args.is_empty() => [entrypoint, x(args)].concat(),
        _ => [entrypoint, cmd].concat(),
    }
}

/// The environment: the image's, overridden by the container's (which come resolved).
pub fn environment(image: &Image, env: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for kv in &image.config.env {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        out.push((k.to_string(), v.to_string()));
    }
    if !out.iter().any(|(k, _)| k == "PATH") {
        out.insert(0, ("PATH".into(), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()));
    }
    for (k, v) in env {
        match out.iter_mut().find(|(ek, _)| ek == k) {
            Some(e) => e.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Resolves a user name or uid (and optional group) of the image against its /etc/passwd
/// and /etc/group (top layer first).
pub fn image_user(image: &Image) -> Result<(u32, u32), String> {
    let user = image.config.user.clone().unwrap_or_default();
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u.to_string(), Some(g.to_string())),
        None => (user.clone(), None),
    };
    let read = |file: &str| -> Option<String> {
        image.layers.iter().rev().find_map(|l| std::fs::read_to_string(l.join(file)).ok())
    };
    let lookup = |file: &str, name: &str| -> Option<(u32, u32)> {
        read(file)?.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() >= 4 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().unwrap_or(0))))?
        })
    };
    let (uid, mut gid) = match u.parse::<u32>() {
        Ok(uid) => (uid, lookup_uid_gid(&read("etc/passwd"), uid).unwrap_or(0)),
        Err(_) => lookup("etc/passwd", &u).ok_or_else(|| format!("unable to find user {u}: no matching entries in passwd file"))?,
    };
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => lookup("etc/group", &g).map(|(gid, _)| gid).ok_or_else(|| format!("unable to find group {g}: no matching entries in group file"))?,
        };
    }
    Ok((uid, gid))
}

fn lookup_uid_gid(passwd: &Option<String>, uid: u32) -> Option<u32> {
    passwd.as_ref()?.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[3].parse().ok())?
    })
}

/// The user a container runs as and its supplemental groups, after securityContext; errors
/// are CreateContainerConfigError messages (runAsNonRoot).
pub fn user(pod: &Pod, c: &Container, image: &Image) -> Result<(u32, u32, Vec<u32>), String> {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let csc = c.security_context.as_ref();
    let (img_uid, img_gid) = image_user(image)?;
    let run_as_user = csc.and_then(|s| s.run_as_user).or(psc.and_then(|s| s.run_as_user));
    let run_as_group = csc.and_then(|s| s.run_as_group).or(psc.and_then(|s| s.run_as_group));
    let non_root = csc.and_then(|s| s.run_as_non_root).or(psc.and_then(|s| s.run_as_non_root)).unwrap_or(false);
    let uid = run_as_user.map(|u| u as u32).unwrap_or(img_uid);
    let gid = run_as_group.map(|g| g as u32).unwrap_or(if run_as_user.is_some() { 0 } else { img_gid });
    if non_root && uid == 0 {
        let pod_name = pod.metadata.name.as_deref().unwrap_or("");
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        return Err(if run_as_user.is_some() {
            format!("container's runAsUser breaks non-root policy (pod: \"{pod_name}_{ns}({})\", container: {})", pod.metadata.uid.as_deref().unwrap_or(""), c.name)
        } else {
            format!("container has runAsNonRoot and image will run as root (pod: \"{pod_name}_{ns}({})\", container: {})", pod.metadata.uid.as_deref().unwrap_or(""), c.name)
        });
    }
    let mut groups: Vec<u32> = psc.and_then(|s| s.supplemental_groups.clone()).unwrap_or_default().into_iter().map(|g| g as u32).collect();
    if let Some(fs) = psc.and_then(|s| s.fs_group) {
        groups.push(fs as u32);
    }
    Ok((uid, gid, groups))
}

/// Capabilities added and dropped, privileged, read-only root, no-new-privileges.
pub struct Security {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub read_only_rootfs: bool,
    pub no_new_privileges: bool,
}

pub fn security(c: &Container) -> Security {
    let sc = c.security_context.as_ref();
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let privileged = sc.and_then(|s| s.privileged).unwrap_or(false);
    Security {
        cap_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
        cap_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        privileged,
        read_only_rootfs: sc.and_then(|s| s.read_only_root_filesystem).unwrap_or(false),
        no_new_privileges: !privileged && sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
    }
}

/// The working directory: the container's, else the image's, else "/".
pub fn working_dir(c: &Container, image: &Image) -> String {
    c.working_dir
        .clone()
        .filter(|d| !d.is_empty())
        .or_else(|| image.config.working_dir.clone().filter(|d| !d.is_empty()))
        .unwrap_or_else(|| "/".into())
}

/// `<pod-log-dir>/<ns>_<name>_<uid>/<container>/<restart>.log`.
pub fn log_path(dir: &Path, pod: &Pod, container: &str, restart: i32) -> std::path::PathBuf {
    dir.join(pod_log_dir_name(pod)).join(container).join(format!("{restart}.log"))
}

pub fn pod_log_dir_name(pod: &Pod) -> String {
    format!(
        "{}_{}_{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or(""),
        pod.metadata.uid.as_deref().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entrypoint: &[&str], cmd: &[&str]) -> Image {
        let mut i = Image {
            id: String::new(),
            names: vec![],
            repo_digests: vec![],
            manifest_digest: String::new(),
            layers: vec![],
            config: Default::default(),
            size: 0,
        };
        i.config.entrypoint = entrypoint.iter().map(|s| s.to_string()).collect();
        i.config.cmd = cmd.iter().map(|s| s.to_string()).collect();
        i
    }

    #[test]
    fn command_and_args_against_the_image() {
        let img = image(&["/docker-entrypoint.sh"], &["nginx", "-g", "daemon off;"]);
        let mut c = Container { name: "c".into(), ..Default::default() };
        assert_eq!(argv(&c, &img, &[]), ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]);
        c.args = Some(vec!["$(GREETING)".into()]);
        let env = [("GREETING".to_string(), "hi".to_string())];
        assert_eq!(argv(&c, &img, &env), ["/docker-entrypoint.sh", "hi"]);
        c.command = Some(vec!["sh".into(), "-c".into()]);
        c.args = Some(vec!["echo $(GREETING)".into()]);
        assert_eq!(argv(&c, &img, &env), ["sh", "-c", "echo hi"]);
        c.args = None;
        assert_eq!(argv(&c, &img, &env), ["sh", "-c"]);
    }
}
