//! Compiles the built-in images' static binaries (`assets/images/*.c`: the pause container
//! and the web server) with the system C compiler, for `include_bytes!` in `node::images`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The C programs baked into built-in images, by output name.
const PROGRAMS: &[(&str, &str)] = &[
    ("pause", "assets/images/pause.c"),
    ("webserver", "assets/images/webserver.c"),
];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let compiler = env::var("MINIKUBE_RS_CC").unwrap_or_else(|_| "cc".to_string());
    println!("cargo:rerun-if-env-changed=MINIKUBE_RS_CC");
    for (name, source) in PROGRAMS {
        println!("cargo:rerun-if-changed={source}");
        compile(&compiler, Path::new(source), &out_dir.join(name));
    }
}

/// `cc -static -Os -s`: a self-contained binary that runs in an image with no libc.
fn compile(compiler: &str, source: &Path, output: &Path) {
    let status = Command::new(compiler)
        .args(["-static", "-Os", "-s", "-Wall", "-Wextra", "-o"])
        .arg(output)
        .arg(source)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "compiling {} with `{compiler} -static` failed ({status}); a C compiler and a static \
             libc (Debian: gcc, libc6-dev) are needed to build the built-in images",
            source.display()
        ),
        Err(err) => panic!(
            "running the C compiler `{compiler}` for {}: {err}; install gcc and libc6-dev or set \
             MINIKUBE_RS_CC",
            source.display()
        ),
    }
}
