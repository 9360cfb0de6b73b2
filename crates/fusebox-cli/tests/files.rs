//! The state file: private (0700 directory, 0600 file, whatever the umask),
//! found where XDG says, and never someone else's file.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{code, stderr, Env};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_state_is_private_even_under_umask_000() {
    let env = Env::new();
    let state = env.path("deep/er/state.db");
    let script = format!(
        "umask 000; exec {} run x -- true",
        env!("CARGO_BIN_EXE_fusebox")
    );
    // The umask is set by a shell, then fusebox replaces it.
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("FUSEBOX_STATE", &state)
        .env_remove("FUSEBOX_STORE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(&env.path("deep")), 0o700);
    assert_eq!(mode(&env.path("deep/er")), 0o700);
    assert_eq!(mode(&state), 0o600);
}

#[test]
fn a_relative_xdg_state_home_is_ignored() {
    let env = Env::new();
    let home = env.path("home");
    let work = env.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = env
        .fusebox()
        .env_remove("FUSEBOX_STATE")
        .env("XDG_STATE_HOME", "relative/state")
        .env("HOME", &home)
        .current_dir(&work)
        .args(["run", "x", "--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(home.join(".local/state/fusebox/state.db").exists());
    assert!(!work.join("relative").exists());
}

#[test]
fn a_link_to_another_users_file_is_refused() {
    let env = Env::new();
    let victim = env.path("victim");
    std::fs::write(&victim, "someone's notes\n").unwrap();
    let target = if nix::unistd::geteuid().is_root() {
        // Hand the file to nobody, so it is another user's.
        std::os::unix::fs::chown(&victim, Some(65_534), Some(65_534)).unwrap();
        victim.clone()
    } else {
        std::path::PathBuf::from("/etc/passwd")
    };
    let before = std::fs::read(&target).unwrap();
    let link = env.path("state.db");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for args in [vec!["run", "x", "--", "true"], vec!["trip", "x"]] {
        let out = env.run(&args);
        assert_eq!(code(&out), 74, "{}", stderr(&out));
        assert!(stderr(&out).contains("another user"), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read(&target).unwrap(), before);
    assert_ne!(
        std::fs::metadata(&target).unwrap().uid(),
        nix::unistd::geteuid().as_raw()
    );
    assert!(!env.path("state.db-wal").exists() && !env.path("state.db-journal").exists());
}

#[test]
fn a_device_is_not_a_state_file() {
    let env = Env::new();
    for args in [
        vec!["run", "x", "--store", "sqlite:///dev/zero", "--", "true"],
        vec!["status", "--store", "sqlite:///dev/zero"],
    ] {
        let out = env.run(&args);
        assert_eq!(code(&out), 74, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("not a regular file"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!std::path::Path::new("/dev/zero-journal").exists());
}

#[test]
fn a_damaged_state_file_is_named_with_what_to_do() {
    let env = Env::new();
    let state = env.path("state.db");
    std::fs::write(&state, vec![0x5a; 8192]).unwrap();
    for args in [vec!["run", "x", "--", "true"], vec!["status"]] {
        let out = env.run(&args);
        assert_eq!(code(&out), 74, "{}", stderr(&out));
        let message = stderr(&out);
        assert_eq!(message.lines().count(), 1, "{message}");
        assert!(message.contains(&state.display().to_string()), "{message}");
        assert!(
            message.contains("deleting it resets every breaker"),
            "{message}"
        );
    }
}
