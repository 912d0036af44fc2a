//! Compiles the tc program (bpf/resolver.bpf.c) with clang for the BPF target,
//! twice: with its maps pinned by name (the daemon's) and without (tests, which
//! must never touch a bpffs). Debian: `apt-get install clang llvm libbpf-dev`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let src = "bpf/resolver.bpf.c";
    println!("cargo:rerun-if-changed={src}");
    // <asm/types.h> and friends live under the multiarch directory on Debian.
    let multiarch = Command::new("gcc")
        .arg("-print-multiarch")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{}-linux-gnu", std::env::var("CARGO_CFG_TARGET_ARCH").unwrap()));
    for (name, defines) in [("resolver.bpf.o", &["-DNETCTL_PIN"][..]), ("resolver-nopin.bpf.o", &[][..])] {
        let status = Command::new(std::env::var("CLANG").unwrap_or_else(|_| "clang".into()))
            .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
            .arg(format!("-I/usr/include/{multiarch}"))
            .args(defines)
            .args(["-c", src, "-o"])
            .arg(out.join(name))
            .status()
            .unwrap_or_else(|e| panic!("clang (apt-get install clang llvm libbpf-dev): {e}"));
        assert!(status.success(), "clang failed on {src}");
    }
}
