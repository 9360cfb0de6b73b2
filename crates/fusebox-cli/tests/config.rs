//! `--config`: a file's settings hold while the file says so, and no longer.

mod common;

use common::{code, stderr, Env};

fn write_config(env: &Env, enabled: bool) -> String {
    let path = env.path("config.yaml");
    let text = format!(
        "performance:\n  circuit_breaker:\n    enabled: {enabled}\n    failure_threshold: 1\n    recovery_timeout: 1h\n"
    );
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn enabled_false_in_the_file_is_not_written_to_the_store() {
    let env = Env::new();
    let config = write_config(&env, false);
    let fail = [
        "run", "api", "--config", &config, "--", "sh", "-c", "exit 3",
    ];
    for _ in 0..3 {
        let out = env.run(&fail);
        assert_eq!(
            code(&out),
            3,
            "the breaker is off: COMMAND runs: {}",
            stderr(&out)
        );
    }
    let out = env.run(&["status", "api", "--json"]);
    assert_ne!(code(&out), 0, "nothing was written for 'api'");

    // The file now says enabled: the breaker works, from a clean slate.
    let config = write_config(&env, true);
    let fail = [
        "run", "api", "--config", &config, "--", "sh", "-c", "exit 3",
    ];
    assert_eq!(code(&env.run(&fail)), 3);
    let out = env.run(&fail);
    assert_eq!(code(&out), 75, "one failure opens it: {}", stderr(&out));
    assert_eq!(env.status_json("api")["state"], "open");
}

#[test]
fn manual_disable_still_writes_its_state() {
    let env = Env::new();
    let config = write_config(&env, true);
    assert!(env
        .run(&["disable", "api", "--config", &config])
        .status
        .success());
    let fail = [
        "run", "api", "--config", &config, "--", "sh", "-c", "exit 3",
    ];
    for _ in 0..3 {
        assert_eq!(code(&env.run(&fail)), 3);
    }
    assert_eq!(env.status_json("api")["state"], "disabled");
}
