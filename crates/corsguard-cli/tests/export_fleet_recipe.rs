//! The fleet recipe and the export command's contract: the Kubernetes manifests parse and
//! wire the probes, policy file and hardening as docs/fleet.md says; the container build is
//! multi-stage and non-root; every `corsguard export` command in docs/fleet.md runs; profile,
//! listen and upstream selection, and the exit statuses.

mod export_support;

use std::process::Command;

use export_support::*;
use serde_norway::Value;

fn manifest(name: &str) -> Value {
    let path = root().join("deploy/k8s").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn manifests_wire_probes_policy_and_hardening() {
    let deployment = manifest("deployment.yaml");
    assert_eq!(deployment["kind"].as_str(), Some("Deployment"));
    let spec = &deployment["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"].as_str(), Some("/readyz"));
    assert_eq!(container["livenessProbe"]["httpGet"]["path"].as_str(), Some("/healthz"));
    assert_eq!(container["readinessProbe"]["httpGet"]["port"].as_str(), Some("admin"));
    let ports: Vec<(&str, u64)> = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["containerPort"].as_u64().unwrap()))
        .collect();
    assert_eq!(ports, [("http", 8080), ("admin", 9090)]);
    for key in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(container["resources"][key][resource].is_string(), "{key}.{resource}");
        }
    }
    assert_eq!(spec["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let sc = &container["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
    // The policy comes from the ConfigMap as a directory mount (a subPath mount never updates).
    let mount = &container["volumeMounts"][0];
    assert_eq!(mount["mountPath"].as_str(), Some("/etc/corsguard"));
    assert!(mount["subPath"].is_null());
    assert_eq!(spec["volumes"][0]["configMap"]["name"].as_str(), Some("corsguard-policy"));
    let args: Vec<&str> =
        container["args"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert_eq!(&args[..3], ["serve", "--config", "/etc/corsguard/corsguard.toml"]);

    let configmap = manifest("configmap.yaml");
    assert_eq!(configmap["metadata"]["name"].as_str(), Some("corsguard-policy"));
    let policy = configmap["data"]["corsguard.toml"].as_str().unwrap();
    let diags = corsguard::check_toml(policy, None);
    assert!(!diags.has_errors(), "the shipped policy lints clean: {diags:?}");
    let written = corsguard_gateway::settings::WrittenKeys::read(policy);
    assert_eq!(written.mode.as_deref(), Some("report"), "roll out in report mode first");
    assert_eq!(written.admin.as_deref(), Some("0.0.0.0:9090"), "probes need the admin port");

    let service = manifest("service.yaml");
    assert_eq!(service["kind"].as_str(), Some("Service"));
    assert_eq!(service["spec"]["ports"][0]["targetPort"].as_str(), Some("http"));
    let pdb = manifest("pdb.yaml");
    assert_eq!(pdb["kind"].as_str(), Some("PodDisruptionBudget"));
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
    assert_eq!(&service["spec"]["selector"], selector);
    let kustomization = manifest("kustomization.yaml");
    assert_eq!(kustomization["resources"].as_sequence().unwrap().len(), 4);
}

#[test]
fn container_build_is_multi_stage_and_non_root() {
    let text = std::fs::read_to_string(root().join("deploy/Containerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "builder + runtime");
    assert!(froms[0].contains("rust") && froms[0].contains(" AS builder"));
    assert!(froms[1].contains("debian") && froms[1].contains("slim"));
    let user = text.lines().rev().find(|l| l.starts_with("USER ")).expect("a USER line");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    assert!(text.contains("COPY --from=builder"));
}

/// Every `corsguard export` command in a `sh` block of docs/fleet.md runs, from the workspace
/// root, and exits 0.
#[test]
fn the_documented_export_commands_work() {
    let docs = std::fs::read_to_string(root().join("docs/fleet.md")).unwrap();
    let mut in_sh = false;
    let mut commands = Vec::new();
    for line in docs.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
        } else if in_sh && line.starts_with("corsguard export ") {
            commands.push(line);
        }
    }
    assert!(commands.len() >= 3, "nginx, haproxy and envoy are documented");
    for line in commands {
        let command = line.split(" > ").next().unwrap();
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let out = corsguard(&args);
        assert_eq!(out.status.code(), Some(0), "{line}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("# Generated by `corsguard export`"));
    }
    for format in ["nginx", "haproxy", "envoy"] {
        assert!(docs.contains(&format!("--format {format}")), "{format} is documented");
    }
}

fn export_with(policy: &str, args: &[&str], env: Option<&str>) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, policy).unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["export", path.to_str().unwrap()]).args(args).env_remove("CORSGUARD_PROFILE");
    if let Some(profile) = env {
        cmd.env("CORSGUARD_PROFILE", profile);
    }
    cmd.output().unwrap()
}

const PROFILES: &str = r#"
default_profile = "prod"
[gateway]
listen = "127.0.0.1:7000"
upstream = "http://127.0.0.1:7001"
[profiles.prod]
origins = ["https://prod.example.com"]
[profiles.staging]
origins = ["https://staging.example.com"]
[profiles.dev]
origins = ["https://dev.example.com"]
"#;

#[test]
fn profile_listen_and_upstream_selection() {
    let text = |out: std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let default = text(export_with(PROFILES, &["--format", "nginx"], None));
    assert!(default.contains("prod\\.example\\.com") && default.contains("(profile `prod`)"));
    assert!(default.contains("listen 127.0.0.1:7000;"), "[gateway] listen");
    assert!(default.contains("proxy_pass http://127.0.0.1:7001;"), "[gateway] upstream");
    let env = text(export_with(PROFILES, &["--format", "nginx"], Some("staging")));
    assert!(env.contains("staging\\.example\\.com") && !env.contains("prod\\.example"));
    let flag = text(export_with(PROFILES, &["--format", "nginx", "--profile", "dev"], Some("staging")));
    assert!(flag.contains("dev\\.example\\.com") && !flag.contains("staging\\.example"), "--profile wins");
    let flags = text(export_with(
        PROFILES,
        &["--format", "haproxy", "--listen", "0.0.0.0:9000", "--upstream", "https://api.internal:8443"],
        None,
    ));
    assert!(flags.contains("bind 0.0.0.0:9000"));
    assert!(flags.contains("server upstream api.internal:8443 ssl verify required"));
    let none = text(export_with(
        "[profiles.only]\norigins = [\"https://a.example.com\"]\n",
        &["--format", "nginx"],
        None,
    ));
    assert!(none.contains("(profile `only`)") && none.contains("listen 127.0.0.1:8080;"));
    assert!(none.contains("proxy_pass http://127.0.0.1:3000;"), "built-in defaults");
}

#[test]
fn exit_statuses() {
    let unknown = export_with(PROFILES, &["--format", "nginx", "--profile", "nope"], None);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown-profile"));
    let invalid =
        export_with("[profiles.p]\norigins = [\"*\"]\ncredentials = true\n", &["--format", "haproxy"], None);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(invalid.stdout.is_empty(), "no configuration from an invalid policy");
    let bad_listen = export_with(PROFILES, &["--format", "nginx", "--listen", "localhost"], None);
    assert_eq!(bad_listen.status.code(), Some(2));
    let bad_upstream = export_with(PROFILES, &["--format", "nginx", "--upstream", "ftp://x"], None);
    assert_eq!(bad_upstream.status.code(), Some(2));
    let missing = corsguard(&["export", "/nonexistent/corsguard.toml", "--format", "nginx"]);
    assert_eq!(missing.status.code(), Some(2));
    let no_format = corsguard(&["export", "examples/corsguard.toml"]);
    assert_eq!(no_format.status.code(), Some(2));
    let report = export_with(
        "[gateway]\nmode = \"report\"\n[profiles.p]\norigins = [\"https://a.example.com\"]\n",
        &["--format", "nginx"],
        None,
    );
    assert!(
        String::from_utf8_lossy(&report.stdout).contains("mode = \"report\""),
        "exports say they enforce"
    );
}

#[test]
fn help_teaches_with_examples() {
    let out = corsguard(&["export", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--format",
        "--allow-partial",
        "Exit status",
        "corsguard export examples/corsguard.toml --format nginx",
    ] {
        assert!(help.contains(needle), "{needle} in:\n{help}");
    }
}
