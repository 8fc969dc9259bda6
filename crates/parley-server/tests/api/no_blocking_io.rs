//! No blocking file I/O on the runtime's threads: the server's code reaches the disk through
//! `tokio::fs` or inside `spawn_blocking`. This reads the crate's own source, so a `std::fs`
//! call added to a handler fails here before it stalls a worker under load.

use std::path::{Path, PathBuf};

/// The files allowed `std::fs`, how many times, and why each is not on a runtime worker.
const ALLOWED: [(&str, usize, &str); 3] = [
    ("contacts_io.rs", 1, "the CSV reader runs inside spawn_blocking"),
    ("secrets.rs", 2, "the key file is read once at startup, before the server serves"),
    ("uploads.rs", 2, "a dropped upload is removed in spawn_blocking, or inline without a runtime"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Uses of `std::fs` in `source`, not counting its unit tests (from `#[cfg(test)]` on).
fn blocking_io_uses(source: &str) -> usize {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines().filter(|line| !line.trim_start().starts_with("//")).map(|line| line.matches("std::fs").count()).sum()
}

#[test]
fn the_server_reaches_the_disk_through_tokio_fs_or_spawn_blocking() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    assert!(files.len() > 20, "the source was not found: {files:?}");
    let mut found = Vec::new();
    for file in files {
        let uses = blocking_io_uses(&std::fs::read_to_string(&file).unwrap());
        if uses == 0 {
            continue;
        }
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let allowed = ALLOWED.iter().find(|(f, _, _)| *f == name).map_or(0, |(_, n, _)| *n);
        if uses > allowed {
            found.push(format!("{}: {uses} uses of std::fs (allowed {allowed})", file.display()));
        }
    }
    assert!(
        found.is_empty(),
        "blocking file I/O on the runtime: use tokio::fs or spawn_blocking:\n{}",
        found.join("\n")
    );
}
