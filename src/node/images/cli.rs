//! Output of the `minikube-rs image` commands: `image ls` as `crictl images` prints it,
//! `image load` and `image rm` as docker and crictl report them.

use std::path::Path;

use super::{Error, Image, ImageStore};

/// Characters of an image id `image ls` shows (crictl's truncated id).
const SHORT_ID: usize = 13;
/// tabwriter settings of crictl: minimum cell width and padding.
const MIN_WIDTH: usize = 20;
const PADDING: usize = 3;

/// `image load FILE...`: imports each archive; returns the lines to print.
pub fn load(store: &ImageStore, files: &[impl AsRef<Path>]) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    for file in files {
        for image in store.load_archive(file.as_ref())? {
            if image.names.is_empty() {
                lines.push(format!("Loaded image ID: {}", image.id));
            }
            lines.extend(image.names.iter().map(|n| format!("Loaded image: {n}")));
        }
    }
    Ok(lines)
}

/// `image rm REF...`: removes each; returns the lines to print.
pub fn remove(store: &ImageStore, references: &[String]) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    for reference in references {
        let image = store.get(reference)?.ok_or_else(|| Error::NotFound { reference: reference.clone() })?;
        store.remove(reference)?;
        let shown = ImageStore::normalize(reference)
            .ok()
            .filter(|n| image.names.contains(n))
            .unwrap_or_else(|| image.id.clone());
        lines.push(format!("Deleted: {shown}"));
    }
    Ok(lines)
}

/// `image ls`: the built-in images are made sure of first, then listed.
pub fn list(store: &ImageStore) -> Result<String, Error> {
    store.ensure_builtin()?;
    Ok(table(&store.list()?))
}

/// The `crictl images` table: IMAGE, TAG, IMAGE ID, SIZE; a row per name.
pub fn table(images: &[Image]) -> String {
    let mut rows = vec![["IMAGE".to_string(), "TAG".into(), "IMAGE ID".into(), "SIZE".into()]];
    for image in images {
        let id: String = image.id.trim_start_matches("sha256:").chars().take(SHORT_ID).collect();
        let size = human_size(image.size);
        let mut repo_tags: Vec<(String, String)> = image.names.iter().map(|n| split_name(n)).collect();
        if repo_tags.is_empty() {
            repo_tags = image
                .repo_digests
                .iter()
                .map(|d| (d.split('@').next().unwrap_or(d).to_string(), "<none>".to_string()))
                .collect();
        }
        if repo_tags.is_empty() {
            repo_tags.push(("<none>".into(), "<none>".into()));
        }
        for (repo, tag) in repo_tags {
            rows.push([repo, tag, id.clone(), size.clone()]);
        }
    }
    let widths: Vec<usize> =
        (0..3).map(|c| rows.iter().map(|r| r[c].chars().count() + PADDING).max().unwrap_or(0).max(MIN_WIDTH)).collect();
    let mut out = String::new();
    for row in rows {
        for (c, width) in widths.iter().enumerate() {
            out.push_str(&format!("{:<width$}", row[c], width = *width));
        }
        out.push_str(&row[3]);
        out.push('\n');
    }
    out
}

/// "docker.io/library/busybox:latest" → ("docker.io/library/busybox", "latest").
fn split_name(name: &str) -> (String, String) {
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[last_slash..].rfind(':') {
        Some(i) => (name[..last_slash + i].to_string(), name[last_slash + i + 1..].to_string()),
        None => (name.to_string(), "<none>".to_string()),
    }
}

/// Decimal sizes with three significant digits, as docker's go-units prints them ("2.22MB").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    let decimals = if size >= 100.0 {
        0
    } else if size >= 10.0 {
        1
    } else {
        2
    };
    let mut text = format!("{size:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1234), "1.23kB");
        assert_eq!(human_size(320_000), "320kB");
        assert_eq!(human_size(2_215_000), "2.21MB");
        assert_eq!(human_size(45_600_000), "45.6MB");
    }

    #[test]
    fn table_has_a_row_per_name() {
        let image = Image {
            id: format!("sha256:{}", "a1".repeat(32)),
            names: vec!["registry.k8s.io/pause:3.10".into(), "registry.k8s.io/pause:latest".into()],
            repo_digests: vec![],
            manifest_digest: String::new(),
            layers: vec![],
            config: Default::default(),
            size: 700_000,
        };
        let unnamed = Image { names: vec![], ..image.clone() };
        let text = table(&[image, unnamed]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "IMAGE                   TAG                 IMAGE ID            SIZE");
        assert_eq!(lines[1], "registry.k8s.io/pause   3.10                a1a1a1a1a1a1a       700kB");
        assert_eq!(lines[2], "registry.k8s.io/pause   latest              a1a1a1a1a1a1a       700kB");
        assert_eq!(lines[3], "<none>                  <none>              a1a1a1a1a1a1a       700kB");
    }

    #[test]
    fn names_split_at_the_tag() {
        assert_eq!(split_name("localhost:5000/x:1"), ("localhost:5000/x".into(), "1".into()));
    }
}
