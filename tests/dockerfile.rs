//! The Dockerfile cannot be built here (no Docker engine), so this reads it and checks what a build would
//! rely on: that it fetches ONNX Runtime and the models with the project's own `scripts/setup.sh` (so
//! the versions and sha256 pins are those of set-up and `models/manifest.toml`, not a copy that can go
//! stale), that the runtime stage gets exactly what set-up fetched and checked, and that it runs
//! `idv serve` as a non-root user with a working health check. Pins are parsed, never written here.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use idv::inference::{ORT_LIB_LOCAL, ORT_LIB_NAME};

fn read(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------------------------ Dockerfile parsing

#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

#[derive(Debug)]
struct Stage {
    image: String,
    name: Option<String>,
    body: Vec<Instruction>,
}

impl Stage {
    fn all(&self, keyword: &str) -> impl Iterator<Item = (usize, &Instruction)> {
        let keyword = keyword.to_string();
        self.body
            .iter()
            .enumerate()
            .filter(move |(_, i)| i.keyword == keyword)
    }

    fn last(&self, keyword: &str) -> Option<&Instruction> {
        self.all(keyword).map(|(_, i)| i).last()
    }

    /// ENV as key/value pairs (`ENV K=V K2=V2`, or the legacy `ENV K V`); later ones win.
    fn env(&self, key: &str) -> Option<String> {
        let mut found = None;
        for (_, i) in self.all("ENV") {
            let mut tokens = i.args.split_whitespace().peekable();
            if tokens.peek().is_some_and(|t| !t.contains('=')) {
                let k = tokens.next().unwrap();
                if k == key {
                    found = Some(tokens.collect::<Vec<_>>().join(" "));
                }
                continue;
            }
            for t in tokens {
                if let Some((k, v)) = t.split_once('=') {
                    if k == key {
                        found = Some(v.trim_matches('"').to_string());
                    }
                }
            }
        }
        found
    }

    /// Every package named after `apt-get install` in this stage's RUN instructions.
    fn apt_packages(&self) -> BTreeSet<String> {
        let mut packages = BTreeSet::new();
        for (_, run) in self.all("RUN") {
            for command in run.args.split("&&") {
                let Some((_, rest)) = command.split_once("apt-get install") else {
                    continue;
                };
                packages.extend(
                    rest.split_whitespace()
                        .filter(|t| !t.starts_with('-'))
                        .map(str::to_string),
                );
            }
        }
        packages
    }

    /// `COPY --from=STAGE SRC… DEST`: (from, sources, destination), for every COPY.
    fn copies(&self) -> Vec<(Option<String>, Vec<String>, String)> {
        self.all("COPY")
            .map(|(_, c)| {
                let mut from = None;
                let mut paths = Vec::new();
                for t in c.args.split_whitespace() {
                    if let Some(f) = t.strip_prefix("--from=") {
                        from = Some(f.to_string());
                    } else if !t.starts_with("--") {
                        paths.push(t.to_string());
                    }
                }
                let dest = paths.pop().expect("COPY has a destination");
                (from, paths, dest)
            })
            .collect()
    }
}

/// Instructions with line continuations joined and comment lines dropped (also inside continuations,
/// as Docker does), grouped into stages by FROM.
fn dockerfile() -> Vec<Stage> {
    let text = read("Dockerfile");
    let mut instructions = Vec::new();
    let mut pending: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let (part, continues) = match t.strip_suffix('\\') {
            Some(p) => (p.trim_end(), true),
            None => (t, false),
        };
        let joined = match pending.take() {
            Some(prev) => format!("{prev} {part}"),
            None => part.to_string(),
        };
        if continues {
            pending = Some(joined);
        } else {
            instructions.push(joined);
        }
    }
    assert!(
        pending.is_none(),
        "the Dockerfile ends inside a continuation"
    );
    let mut stages: Vec<Stage> = Vec::new();
    for line in instructions {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_string();
        if keyword == "FROM" {
            let tokens: Vec<&str> = args
                .split_whitespace()
                .filter(|t| !t.starts_with("--"))
                .collect();
            stages.push(Stage {
                image: tokens[0].to_string(),
                name: match tokens.as_slice() {
                    [_, r#as, name] if r#as.eq_ignore_ascii_case("as") => Some(name.to_string()),
                    _ => None,
                },
                body: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("FROM comes first")
                .body
                .push(Instruction { keyword, args });
        }
    }
    stages
}

/// The final (runtime) stage and the stage it copies its files from.
fn runtime_and_build(stages: &[Stage]) -> (&Stage, &Stage) {
    assert!(stages.len() >= 2, "the Dockerfile is multi-stage");
    let runtime = stages.last().unwrap();
    let froms: BTreeSet<String> = runtime
        .copies()
        .into_iter()
        .filter_map(|(from, _, _)| from)
        .collect();
    assert_eq!(
        froms.len(),
        1,
        "the runtime stage copies from one build stage: {froms:?}"
    );
    let from = froms.into_iter().next().unwrap();
    let build = stages
        .iter()
        .find(|s| s.name.as_deref() == Some(from.as_str()))
        .unwrap_or_else(|| panic!("no stage named {from}"));
    (runtime, build)
}

/// A JSON array (exec form of ENTRYPOINT, CMD, HEALTHCHECK CMD).
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not exec form ({e}): {args}"))
}

// ------------------------------------------------------------------------------ the pins

/// What scripts/setup.sh pins for ONNX Runtime.
struct OrtPins {
    version: String,
    /// Where set-up leaves the library, relative to the project folder.
    lib: String,
    wheel: String,
}

fn shell_var(script: &str, name: &str) -> String {
    script
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("scripts/setup.sh sets no {name}"))
        .trim_matches('"')
        .to_string()
}

fn ort_pins() -> OrtPins {
    // Shell line continuations joined: the pip command spans two lines.
    let script = read("scripts/setup.sh").replace("\\\n", " ");
    let download = script
        .lines()
        .find(|l| l.contains("pip download") && l.contains("onnxruntime=="))
        .expect("setup.sh downloads the onnxruntime wheel with pip");
    let version = download
        .split("onnxruntime==")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    OrtPins {
        version,
        lib: shell_var(&script, "ORT_LIB"),
        wheel: shell_var(&script, "ORT_WHEEL"),
    }
}

fn manifest() -> toml::Value {
    toml::from_str(&read("models/manifest.toml")).expect("manifest parses")
}

/// Every sha256 the set-up checks: in setup.sh itself and in the manifest it reads.
fn known_sha256s() -> BTreeSet<String> {
    let text = read("scripts/setup.sh") + &read("models/manifest.toml");
    sha256_tokens(&text)
}

fn sha256_tokens(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|t| t.len() == 64)
        .map(str::to_ascii_lowercase)
        .collect()
}

// ------------------------------------------------------------------------------ tests

#[test]
fn setup_pins_agree_with_what_the_binary_loads() {
    let pins = ort_pins();
    let file = format!("libonnxruntime.so.{}", pins.version);
    assert_eq!(
        ORT_LIB_NAME, file,
        "the binary expects the library set-up fetches"
    );
    assert_eq!(ORT_LIB_LOCAL, pins.lib);
    assert!(pins.lib.ends_with(&format!("/{file}")), "{}", pins.lib);
    assert!(
        pins.wheel
            .starts_with(&format!("onnxruntime-{}-", pins.version)),
        "{}",
        pins.wheel
    );
}

#[test]
fn build_stage_fetches_with_the_projects_setup_script() {
    let stages = dockerfile();
    let (_, build) = runtime_and_build(&stages);
    let script = read("scripts/setup.sh");

    let (setup_at, setup_run) = build
        .all("RUN")
        .find(|(_, r)| r.args.contains("scripts/setup.sh"))
        .expect("the build stage runs scripts/setup.sh");
    assert!(
        !setup_run.args.contains("--with-reference"),
        "the image needs no Python reference environment"
    );

    // setup.sh and the manifest it reads its model pins from are in the image before it runs.
    assert!(script.contains("models/manifest.toml"));
    let copied_before = |file: &str| {
        build.body[..setup_at].iter().any(|i| {
            i.keyword == "COPY"
                && i.args
                    .split_whitespace()
                    .filter(|t| !t.starts_with("--"))
                    .rev()
                    .skip(1) // the destination
                    .any(|src| {
                        let src = src.trim_end_matches('/');
                        src == "." || src == file || file.starts_with(&format!("{src}/"))
                    })
        })
    };
    assert!(
        copied_before("scripts/setup.sh"),
        "setup.sh is copied before it runs"
    );
    assert!(
        copied_before("models/manifest.toml"),
        "the manifest is copied before setup.sh runs"
    );

    // The tools setup.sh asks for (`need CMD …`) are installed; sha256sum (coreutils) and apt-get come
    // with every Debian image.
    let packages = build.apt_packages();
    let needed: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("need "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(
        needed.contains(&"python3") && needed.contains(&"npm"),
        "{needed:?}"
    );
    for tool in needed
        .iter()
        .filter(|t| !["sha256sum", "apt-get"].contains(*t))
    {
        assert!(
            packages.contains(*tool),
            "the build stage installs {tool}: {packages:?}"
        );
    }
    if script.contains("python3 -m pip") {
        assert!(packages.contains("python3-pip"), "{packages:?}");
    }

    let (build_at, _) = build
        .all("RUN")
        .find(|(_, r)| {
            r.args.contains("cargo build")
                && r.args.contains("--release")
                && r.args.contains("--locked")
        })
        .expect("the build stage runs cargo build --release --locked");
    assert!(build_at > setup_at);
}

#[test]
fn dockerfile_repeats_no_pin_that_differs_from_set_up() {
    let text = read("Dockerfile");
    let pins = ort_pins();

    // Any sha256 written in the Dockerfile must be one set-up checks (none is needed: setup.sh checks).
    let known = known_sha256s();
    for sha in sha256_tokens(&text) {
        assert!(
            known.contains(&sha),
            "sha256 {sha} is not one of set-up's pins"
        );
    }

    // Every ONNX Runtime version named is set-up's; the runtime stage names the library at least twice
    // (what it copies, and IDV_ORT_LIB).
    let lib_prefix = "libonnxruntime.so.";
    let mentions: Vec<&str> = text
        .match_indices(lib_prefix)
        .map(|(at, _)| {
            let rest = &text[at + lib_prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            rest[..end].trim_end_matches('.')
        })
        .collect();
    assert!(mentions.len() >= 2, "{mentions:?}");
    for v in &mentions {
        assert_eq!(*v, pins.version, "ONNX Runtime version in the Dockerfile");
    }
    for (at, _) in text.match_indices("onnxruntime==") {
        assert!(text[at..].starts_with(&format!("onnxruntime=={}", pins.version)));
    }

    // Each model package, if named at all, at the manifest's version (npm `name@version`, PyPI
    // `name==version`).
    let manifest = manifest();
    let sources = manifest["sources"].as_table().expect("[sources]");
    for source in sources.values() {
        let package = source["package"].as_str().expect("sources.*.package");
        let (name, _version) = package
            .rsplit_once("==")
            .or_else(|| package.rsplit_once('@'))
            .expect("name@version or name==version");
        for (at, _) in text.match_indices(name) {
            assert!(
                text[at..].starts_with(package),
                "the Dockerfile names {name} at another version than {package}"
            );
        }
    }
}

#[test]
fn runtime_stage_gets_what_set_up_fetched_and_checked() {
    let stages = dockerfile();
    let (runtime, build) = runtime_and_build(&stages);
    let pins = ort_pins();
    let workdir = build
        .last("WORKDIR")
        .expect("the build stage has a WORKDIR")
        .args
        .trim_end_matches('/')
        .to_string();
    assert!(workdir.starts_with('/'), "absolute WORKDIR: {workdir}");
    let copies = runtime.copies();
    let dest_of = |src: &str| {
        copies
            .iter()
            .find(|(_, srcs, _)| srcs.iter().any(|s| s.trim_end_matches('/') == src))
            .map(|(_, _, dest)| dest.clone())
            .unwrap_or_else(|| panic!("the runtime stage copies {src}"))
    };

    let lib_dest = dest_of(&format!("{workdir}/{}", pins.lib));
    let lib_file = pins.lib.rsplit('/').next().unwrap();
    let lib_path = if lib_dest.ends_with('/') {
        format!("{lib_dest}{lib_file}")
    } else {
        lib_dest
    };
    assert_eq!(
        runtime.env("IDV_ORT_LIB").as_deref(),
        Some(lib_path.as_str())
    );

    let models_dest = dest_of(&format!("{workdir}/models"));
    assert_eq!(
        runtime.env("IDV_MODELS").as_deref(),
        Some(models_dest.trim_end_matches('/'))
    );
    // setup.sh writes every model the manifest lists into models/ (the folder copied above).
    assert!(read("scripts/setup.sh").contains("> \"models/$file.part\""));

    let bin_dest = dest_of(&format!("{workdir}/target/release/idv"));
    let entry = exec_form(&runtime.last("ENTRYPOINT").expect("ENTRYPOINT").args);
    assert!(
        entry[0] == bin_dest
            || (entry[0] == "idv"
                && ["/usr/local/bin/idv", "/usr/local/bin/", "/usr/bin/idv"]
                    .contains(&bin_dest.as_str())),
        "the entry point {entry:?} is the binary copied to {bin_dest}"
    );
}

#[test]
fn dockerignore_keeps_unchecked_local_files_out() {
    // `COPY . .` runs after setup.sh: a local .idv/ or models/*.onnx would replace the checked files.
    let ignored: BTreeSet<String> = read(".dockerignore")
        .lines()
        .map(|l| l.trim().trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in [
        ".idv",
        "models/*.onnx",
        "models/*.dict.txt",
        "target",
        "testdata",
    ] {
        assert!(ignored.contains(needed), ".dockerignore lacks {needed}");
    }
}

#[test]
fn runtime_stage_is_slim_debian_with_ffmpeg_and_non_root() {
    let stages = dockerfile();
    let (runtime, build) = runtime_and_build(&stages);
    assert_eq!(runtime.image, "debian:bookworm-slim");
    // Same Debian release: the glibc and FFmpeg sonames the binary links against exist at run time.
    assert!(build.image.ends_with("-bookworm"), "{}", build.image);

    let built_with = build.apt_packages();
    let runs_with = runtime.apt_packages();
    let ffmpeg: Vec<&str> = built_with
        .iter()
        .filter_map(|p| p.strip_suffix("-dev"))
        .filter(|p| p.starts_with("libav") || p.starts_with("libsw"))
        .collect();
    assert!(ffmpeg.len() >= 4, "FFmpeg -dev libraries: {ffmpeg:?}");
    for lib in ffmpeg {
        assert!(
            runs_with.iter().any(|p| p.strip_prefix(lib).is_some_and(
                |soname| !soname.is_empty() && soname.chars().all(|c| c.is_ascii_digit())
            )),
            "the runtime stage installs {lib}<soname>: {runs_with:?}"
        );
    }

    let user = runtime.last("USER").expect("the runtime stage sets USER");
    let name = user.args.split(':').next().unwrap().trim();
    assert!(name != "root" && name != "0", "runs as {name}");
    let created = runtime.all("RUN").any(|(_, r)| {
        r.args.contains("useradd")
            && if name.chars().all(|c| c.is_ascii_digit()) {
                r.args.contains(&format!("--uid {name}"))
            } else {
                r.args.split_whitespace().any(|t| t == name)
            }
    });
    assert!(created, "user {name} is created in the runtime stage");
}

#[test]
fn runtime_stage_serves_on_the_exposed_ports_with_its_data_on_a_volume() {
    let stages = dockerfile();
    let (runtime, _) = runtime_and_build(&stages);

    let mut command = exec_form(&runtime.last("ENTRYPOINT").expect("ENTRYPOINT").args);
    command.extend(exec_form(&runtime.last("CMD").expect("CMD").args));
    assert_eq!(command, ["idv", "serve"]);

    let exposed: BTreeSet<String> = runtime
        .all("EXPOSE")
        .flat_map(|(_, e)| {
            e.args
                .split_whitespace()
                .map(|p| p.split('/').next().unwrap().to_string())
        })
        .collect();
    let listen = runtime.env("IDV_LISTEN").expect("IDV_LISTEN");
    let (host, port) = listen.rsplit_once(':').unwrap();
    assert_eq!(host, "0.0.0.0", "reachable from outside the container");
    assert!(exposed.contains(port), "{port} exposed: {exposed:?}");
    if let Some(metrics) = runtime.env("IDV_METRICS_LISTEN") {
        let (_, port) = metrics.rsplit_once(':').unwrap();
        assert!(
            exposed.contains(port),
            "metrics {port} exposed: {exposed:?}"
        );
        assert_ne!(metrics, listen);
    }

    let volumes: Vec<String> = runtime
        .all("VOLUME")
        .flat_map(|(_, v)| {
            serde_json::from_str::<Vec<String>>(&v.args)
                .unwrap_or_else(|_| v.args.split_whitespace().map(str::to_string).collect())
        })
        .collect();
    let database = runtime.env("IDV_DATABASE").expect("IDV_DATABASE");
    let file = database
        .strip_prefix("sqlite://")
        .expect("SQLite by default");
    let volume = volumes
        .iter()
        .find(|v| file.starts_with(&format!("{}/", v.trim_end_matches('/'))))
        .unwrap_or_else(|| panic!("{file} is on a volume: {volumes:?}"));
    // The folder exists, owned by the service's user, before VOLUME (a new volume copies it).
    let user = runtime.last("USER").unwrap().args.clone();
    let uid = user.split(':').next().unwrap();
    let volume_at = runtime.all("VOLUME").next().unwrap().0;
    assert!(
        runtime.body[..volume_at].iter().any(|i| i.keyword == "RUN"
            && i.args.contains(volume.as_str())
            && (i.args.contains("-o idv")
                || i.args.contains(&format!("-o {uid}"))
                || i.args.contains("chown"))),
        "{volume} is created for the service's user before VOLUME"
    );
}

/// Runs the HEALTHCHECK command against a one-shot server answering `status_line`; returns whether the
/// check passed and the request it sent.
fn health_check_against(status_line: &str) -> (bool, String) {
    let stages = dockerfile();
    let (runtime, _) = runtime_and_build(&stages);
    let check = runtime
        .last("HEALTHCHECK")
        .expect("a HEALTHCHECK")
        .args
        .clone();
    let argv = exec_form(check.split_once("CMD").expect("HEALTHCHECK … CMD").1.trim());

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let status_line = status_line.to_string();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            let n = conn.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body = "{\"status\":\"ok\"}";
        let _ = write!(
            conn,
            "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        String::from_utf8_lossy(&request).into_owned()
    });
    let ok = Command::new(&argv[0])
        .args(&argv[1..])
        .env("IDV_LISTEN", format!("0.0.0.0:{port}"))
        .status()
        .expect("the health check command runs")
        .success();
    (ok, server.join().unwrap())
}

#[test]
fn health_check_asks_for_health_and_passes_only_on_200() {
    let (ok, request) = health_check_against("HTTP/1.1 200 OK");
    assert!(ok);
    assert!(request.starts_with("GET /health HTTP/1."), "{request:?}");
    let (ok, _) = health_check_against("HTTP/1.1 503 Service Unavailable");
    assert!(!ok);

    // Nothing listening: fails rather than hangs.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stages = dockerfile();
    let (runtime, _) = runtime_and_build(&stages);
    let check = runtime.last("HEALTHCHECK").unwrap().args.clone();
    assert!(check.contains("--timeout="), "a bounded check: {check}");
    let argv = exec_form(check.split_once("CMD").unwrap().1.trim());
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .env("IDV_LISTEN", format!("0.0.0.0:{port}"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
}
