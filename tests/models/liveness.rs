//! Attack evaluation of the video liveness check in ISO/IEC 30107-3 terms: APCER per attack type (attacks
//! accepted as bona fide) and BPCER (bona fide presentations classified as attacks, i.e. `fail`).
//! Bona fide: the real videos in the shared data, each with a challenge its footage contains. Attacks are
//! generated here with the `ffmpeg` command (the generator is `attack_videos`).
//!
//! `cargo test --test models liveness:: -- --nocapture` prints the table kept in docs/LIVENESS.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use idv::eval::replay::{matched_schedule, replay_against};
use idv::liveness::schedule::{parse_schedule, MAX_ACTIONS};
use idv::liveness::{LivenessConfig, Schedule, ScheduleConfig, Verdict};
use idv::media::video::VideoLimits;
use idv::pipeline::liveness::{report, FrameAnalyzer, LivenessReport, FRAMES_IN_FLIGHT};
use idv::pipeline::policy::{match_outcome, MatchThresholds, Outcome};
use idv::pipeline::{FaceAnalyzer, Faces};
use idv::vision::detect::DetectorConfig;
use idv::vision::quality::QualityConfig;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::support::{engine_all, ffmpeg, load, sample, scratch, shared_data};

/// The bona fide clips. Each is judged against the schedule that matches its own timing (its actions as
/// `idv liveness VIDEO` finds them, each prompted half a second before: `eval::replay::matched_schedule`;
/// checked by looking at the frames), and replayed against every schedule the service can issue. d0 and
/// d19 hold one blink each and no head turn; d3 a right turn, a blink and a left turn; the Hamilton
/// clip shows other people between its shots.
const BONA_FIDE: [&str; 4] = [
    "liveportrait/video/d0.mp4",
    "liveportrait/video/d19.mp4",
    "liveportrait/video/d3.mp4",
    "face_recognition/video/short_hamilton_clip.mp4",
];

/// Challenges the footage of each clip does not answer: actions it does not contain, or its own
/// actions at other times.
const WRONG_CHALLENGES: [(&str, &[&str]); 3] = [
    (
        "liveportrait/video/d0.mp4",
        // Its blink (2.6 s) prompted after it came.
        &["turn_left@1", "turn_right@0.5,blink@2", "blink@2.8"],
    ),
    (
        "liveportrait/video/d19.mp4",
        // Its blink (3.9 s) prompted too early for it: late.
        &["turn_left@1", "turn_right@1", "blink@0.5"],
    ),
    (
        "face_recognition/video/short_hamilton_clip.mp4",
        // The applicant never turns left; someone in the two-person opening shot does (that one refers).
        &[
            "turn_left@1",
            "turn_right@1,turn_left@3",
            "blink@1,turn_right@3",
        ],
    ),
];

/// Challenges a photo is asked to perform: a seeded sample of the schedules the service issues.
fn issued_schedules() -> Vec<Schedule> {
    let mut rng = StdRng::seed_from_u64(30107);
    (0..6)
        .map(|_| ScheduleConfig::default().generate(&mut rng))
        .collect()
}

/// Photos made into videos, and the spoof stills (print, replay, fake).
fn photos() -> Vec<(&'static str, PathBuf)> {
    let data = shared_data();
    vec![
        ("still_photo", sample("obama.jpg")),
        ("still_photo", sample("biden.jpg")),
        (
            "still_photo",
            data.join("silent_face_anti_spoofing/image_T1.jpg"),
        ),
        (
            "spoof_still",
            data.join("silent_face_anti_spoofing/image_F1.jpg"),
        ),
        (
            "spoof_still",
            data.join("silent_face_anti_spoofing/image_F2.jpg"),
        ),
        ("spoof_still", data.join("insightface/spoof/rgb_fake.jpg")),
    ]
}

const FIT: &str =
    "scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2";

/// The attack generator: each photo looped into a 3-second video as it is, and again with synthetic
/// zoom, translation and rotation (a photo moved in front of the camera). Returns (type, path).
fn attack_videos(dir: &Path) -> Vec<(String, PathBuf)> {
    let loop_filter = format!("{FIT},format=yuv420p");
    let motion_filter = format!(
        "{FIT},zoompan=z='1.15+0.12*sin(2*PI*on/40)':x='iw/2-(iw/zoom/2)+25*sin(2*PI*on/30)':\
         y='ih/2-(ih/zoom/2)+15*cos(2*PI*on/35)':d=1:s=640x480:fps=25,\
         rotate='0.15*sin(2*PI*t/1.5)',format=yuv420p"
    );
    let mut out = Vec::new();
    for (i, (kind, photo)) in photos().into_iter().enumerate() {
        for (how, filter) in [("loop", &loop_filter), ("motion", &motion_filter)] {
            let video = dir.join(format!("{kind}_{i}_{how}.mp4"));
            ffmpeg(&[
                "-loop",
                "1",
                "-framerate",
                "25",
                "-t",
                "3",
                "-i",
                photo.to_str().unwrap(),
                "-vf",
                filter,
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                video.to_str().unwrap(),
            ]);
            out.push((format!("{kind}_{how}"), video));
        }
    }
    out
}

fn analyse(path: &Path, config: &LivenessConfig) -> idv::pipeline::liveness::VideoAnalysis {
    let faces = FaceAnalyzer::new(engine_all(), DetectorConfig::default());
    FrameAnalyzer::new(&faces)
        .video(
            std::fs::read(path).unwrap(),
            &VideoLimits::default(),
            config,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn judge(
    analysis: &idv::pipeline::liveness::VideoAnalysis,
    challenge: &Schedule,
) -> LivenessReport {
    report(
        analysis.clone(),
        challenge,
        &LivenessConfig::default(),
        &QualityConfig::default(),
    )
}

#[derive(Default)]
struct Tally {
    presentations: usize,
    pass: usize,
    refer: usize,
    fail: usize,
}

impl Tally {
    fn add(&mut self, v: Verdict) {
        self.presentations += 1;
        match v {
            Verdict::Pass => self.pass += 1,
            Verdict::Refer => self.refer += 1,
            Verdict::Fail => self.fail += 1,
        }
    }
}

#[test]
fn attacks_are_never_accepted_and_bona_fide_clips_never_fail() {
    let config = LivenessConfig::default();
    let data = shared_data();
    let mut attacks: BTreeMap<String, Tally> = BTreeMap::new();
    let mut bona_fide = Tally::default();
    let mut lines = Vec::new();

    // Bona fide, and the same footage with challenges it does not contain.
    let mut analysed = BTreeMap::new();
    let grid = ScheduleConfig::default();
    for clip in BONA_FIDE {
        let a = analyse(&data.join(clip), &config);
        let own = matched_schedule(&a.frames, &config, MAX_ACTIONS, grid.window_s)
            .unwrap_or_else(|| panic!("{clip} holds no action"));
        let r = judge(&a, &own);
        lines.push(format!(
            "bona fide {clip} [{own}]: {:?} {:?}",
            r.verdict, r.reasons
        ));
        // Replay: the same footage against every schedule the service can issue.
        let replay = replay_against(
            &a.frames,
            grid.all_schedules(),
            &config,
            &QualityConfig::default(),
        );
        lines.push(format!("replay {clip}: {replay:?}"));
        let tally = attacks.entry("replay".into()).or_default();
        tally.presentations += replay.schedules;
        tally.pass += replay.pass;
        tally.refer += replay.refer;
        tally.fail += replay.fail;
        assert_ne!(
            r.verdict,
            Verdict::Fail,
            "bona fide {clip} failed: {:?}",
            r.reasons
        );
        bona_fide.add(r.verdict);
        analysed.insert(clip, (a, r));
    }
    for (clip, challenges) in WRONG_CHALLENGES {
        for actions in challenges {
            let r = judge(&analysed[clip].0, &parse_schedule(actions, 3.0).unwrap());
            lines.push(format!(
                "wrong challenge {clip} [{actions}]: {:?} {:?}",
                r.verdict, r.reasons
            ));
            attacks
                .entry("wrong_challenge".into())
                .or_default()
                .add(r.verdict);
        }
    }

    // A real video of someone other than the document's holder: accepted only if liveness passes and
    // the best frame matches the document.
    let faces = FaceAnalyzer::new(engine_all(), DetectorConfig::default());
    let thresholds = MatchThresholds::default();
    for document in ["obama.jpg", "biden.jpg"] {
        let doc = faces
            .analyse(&load(&sample(document)), Faces::Primary)
            .unwrap();
        let doc_face = doc.primary().expect("document face");
        for (clip, (_, r)) in &analysed {
            let similarity = r
                .best_embedding
                .as_ref()
                .map(|e| e.cosine(&doc_face.embedding));
            let outcome = match_outcome(similarity, &thresholds, false);
            let accepted = r.verdict == Verdict::Pass && outcome == Outcome::Match;
            lines.push(format!(
                "different person {clip} vs {document}: {outcome:?} (similarity {similarity:?})"
            ));
            attacks
                .entry("different_person".into())
                .or_default()
                .add(if accepted {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                });
        }
    }

    // Generated photo attacks, each asked every challenge the service can issue.
    let dir = scratch("attacks");
    for (kind, path) in attack_videos(&dir) {
        let a = analyse(&path, &config);
        for challenge in issued_schedules() {
            let r = judge(&a, &challenge);
            lines.push(format!(
                "{kind} {} [{challenge}]: {:?} {:?}",
                path.file_name().unwrap().to_string_lossy(),
                r.verdict,
                r.reasons
            ));
            attacks.entry(kind.clone()).or_default().add(r.verdict);
        }
    }

    println!("{}", lines.join("\n"));
    println!("\n| presentations | n | accepted (pass) | refer | fail | APCER / BPCER |");
    println!("|---|---|---|---|---|---|");
    for (kind, t) in &attacks {
        println!(
            "| attack: {kind} | {} | {} | {} | {} | APCER {:.1} % |",
            t.presentations,
            t.pass,
            t.refer,
            t.fail,
            100.0 * t.pass as f64 / t.presentations as f64
        );
    }
    println!(
        "| bona fide | {} | {} | {} | {} | BPCER {:.1} % (refer {:.1} %) |",
        bona_fide.presentations,
        bona_fide.pass,
        bona_fide.refer,
        bona_fide.fail,
        100.0 * bona_fide.fail as f64 / bona_fide.presentations as f64,
        100.0 * bona_fide.refer as f64 / bona_fide.presentations as f64
    );
    for (kind, t) in &attacks {
        assert!(t.presentations > 0);
        if kind == "replay" {
            // The bound: at most 1 % of the schedules passed by an ordinary recording.
            assert!(
                t.pass * 100 <= t.presentations,
                "replay APCER over 1 %: {} of {}",
                t.pass,
                t.presentations
            );
            continue;
        }
        assert_eq!(
            t.pass, 0,
            "APCER of {kind} is not 0: {} of {} accepted",
            t.pass, t.presentations
        );
    }
    assert_eq!(bona_fide.fail, 0);
    // The generator made every type the issue lists.
    let kinds: Vec<&str> = attacks.keys().map(String::as_str).collect();
    for kind in [
        "different_person",
        "replay",
        "spoof_still_loop",
        "spoof_still_motion",
        "still_photo_loop",
        "still_photo_motion",
        "wrong_challenge",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing");
    }
}

/// Overlapping the models of several frames (the default) changes when each model runs, never what it
/// computes: the signals are exactly those of one frame at a time.
#[test]
fn frames_in_flight_change_the_schedule_not_the_signals() {
    let bytes = std::fs::read(shared_data().join("liveportrait/video/d0.mp4")).unwrap();
    let config = LivenessConfig::default();
    let faces = FaceAnalyzer::new(engine_all(), DetectorConfig::default());
    let run = |in_flight| {
        FrameAnalyzer::new(&faces)
            .with_frames_in_flight(in_flight)
            .video(bytes.clone(), &VideoLimits::default(), &config)
            .unwrap()
            .frames
    };
    let (one_at_a_time, overlapped) = (run(0), run(FRAMES_IN_FLIGHT));
    const { assert!(FRAMES_IN_FLIGHT > 0, "the default overlaps frames") };
    assert!(one_at_a_time.len() > 30);
    assert_eq!(one_at_a_time.len(), overlapped.len());
    for (a, b) in one_at_a_time.iter().zip(&overlapped) {
        // Serialised: every scalar signal; then what serialisation leaves out.
        assert_eq!(
            serde_json::to_value(a).unwrap(),
            serde_json::to_value(b).unwrap()
        );
        let (fa, fb) = (a.face.as_ref().unwrap(), b.face.as_ref().unwrap());
        assert_eq!(fa.landmarks68, fb.landmarks68);
        assert!(fa.embedding == fb.embedding, "frame {}", a.index);
    }
    let embedded = overlapped
        .iter()
        .filter(|f| f.face.as_ref().is_some_and(|f| f.embedding.is_some()))
        .count();
    assert_eq!(embedded, overlapped.len().div_ceil(config.identity_every));
}

/// d0's blink, seen 2.6 s in, prompted at 2.0 s.
const D0_SCHEDULE: &str = "blink@2.0";

fn idv(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_idv"))
        .current_dir(crate::support::root())
        .args(args)
        .env_remove("IDV_CONFIG")
        .output()
        .expect("idv runs")
}

#[test]
fn cli_liveness_json_has_the_verdict_the_frames_and_no_biometrics() {
    let clip = shared_data().join("liveportrait/video/d0.mp4");
    let out = idv(&[
        "liveness",
        clip.to_str().unwrap(),
        "--challenge",
        D0_SCHEDULE,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["reasons"], serde_json::json!([]));
    let frames = v["frames"].as_array().unwrap();
    assert_eq!(
        v["frames_analysed"].as_u64().unwrap() as usize,
        frames.len()
    );
    assert!(v["frames_decoded"].as_u64().unwrap() > frames.len() as u64);
    assert_eq!(v["actions"][0]["action"], "blink");
    assert_eq!(v["actions"][0]["done"], true);
    assert_eq!(v["actions"][0]["timing"], "on_time");
    assert_eq!(v["actions"][0]["prompted_at_s"], 2.0);
    let best = v["best_frame"]["index"].as_u64().unwrap() as usize;
    assert_eq!(frames[best]["similarity"].as_f64().unwrap(), 1.0);
    for key in ["pose", "p_closed", "ear", "sharpness", "exposure", "box"] {
        assert!(frames[0]["face"].get(key).is_some(), "{key}");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("embedding") && !text.contains("landmarks68"));
    assert!(v["timings_ms"]["total"].as_f64().unwrap() > 0.0);

    // The human form says the same.
    let human = |challenge: &[&str]| {
        let mut args = vec!["liveness", clip.to_str().unwrap(), "--challenge"];
        args.extend(challenge);
        String::from_utf8(idv(&args).stdout).unwrap()
    };
    let text = human(&["turn_left@1"]);
    assert!(text.starts_with("verdict:  fail"), "{text}");
    assert!(
        text.contains("challenge_not_performed") && text.contains("turn_left@1.0 NOT done"),
        "{text}"
    );
    // The blink came 2.6 s in: prompted at 0.5 s it is late with a 2 s window, on time with 3 s.
    let text = human(&["blink@0.5", "--window", "2"]);
    assert!(text.contains("blink@0.5 NOT done: late"), "{text}");
    assert!(human(&["blink@0.5"]).starts_with("verdict:  pass"));
    // Prompted after it: only before its prompt.
    let text = human(&["blink@2.8"]);
    assert!(text.contains("NOT done: only before its prompt"), "{text}");
    // Untimed, for old recordings: found, marked, referred.
    let text = human(&["blink"]);
    assert!(text.starts_with("verdict:  refer"), "{text}");
    assert!(text.contains("challenge_untimed") && text.contains("blink done, UNTIMED"));
}

#[test]
fn cli_verify_with_a_video_compares_the_best_frame_with_the_document() {
    let data = shared_data();
    let clip = data.join("face_recognition/video/short_hamilton_clip.mp4");
    let same = data.join("face_recognition/lin_manuel_miranda/lin-manuel-miranda.png");
    let other = sample("obama.jpg");
    let run = |doc: &Path| {
        let out = idv(&[
            "verify",
            "--document",
            doc.to_str().unwrap(),
            "--video",
            clip.to_str().unwrap(),
            "--challenge",
            "turn_right@3",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = run(&same);
    assert_eq!(v["outcome"], "match", "{v}");
    // Other people in the clip: liveness refers, so nothing is accepted automatically.
    assert_eq!(v["liveness"]["verdict"], "refer");
    assert_eq!(v["accepted"], false);
    let v = run(&other);
    assert_ne!(v["outcome"], "match");
    assert_eq!(v["accepted"], false);

    // A bad video is refused with its code; --selfie and --video exclude each other.
    let out = idv(&[
        "verify",
        "--document",
        other.to_str().unwrap(),
        "--video",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("video_unsupported"));
    let out = idv(&[
        "verify",
        "--document",
        other.to_str().unwrap(),
        "--selfie",
        other.to_str().unwrap(),
        "--video",
        clip.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// `idv eval-liveness`: the shared clips against every schedule on the grid. The replay APCER is at most
/// 1 % and no clip fails the schedule of its own timing (the command's exit status says both).
#[test]
fn cli_eval_liveness_replays_the_clips_against_every_schedule() {
    let dir = shared_data().join("liveportrait/video");
    let clips: Vec<String> = ["d0.mp4", "d19.mp4", "d3.mp4"]
        .iter()
        .map(|c| dir.join(c).display().to_string())
        .collect();
    let mut args = vec!["eval-liveness", "--json"];
    args.extend(clips.iter().map(String::as_str));
    let out = idv(&args);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    println!("{}", serde_json::to_string_pretty(&v["summary"]).unwrap());
    assert!(out.status.success(), "{v}");
    let s = &v["summary"];
    assert_eq!(s["distinct_schedules"], 1500);
    assert_eq!(s["schedules_per_clip"], 1500);
    assert_eq!(s["replay"]["schedules"], 4500);
    assert!(s["replay_apcer"].as_f64().unwrap() <= 0.01, "{s}");
    assert_eq!(s["bona_fide_fail"], 0, "{s}");
    for clip in v["clips"].as_array().unwrap() {
        assert!(clip["matched"].is_string(), "{clip}");
        assert_ne!(clip["matched_verdict"], "fail", "{clip}");
    }
}
