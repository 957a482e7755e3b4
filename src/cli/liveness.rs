//! `idv liveness VIDEO [--challenge blink@2.0,turn_left@5.5 [--window 3]] [--json]`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use idv::liveness::schedule::parse_schedule;
use idv::liveness::{ActionTiming, Schedule};
use idv::media::video::{VideoError, VideoLimits};
use idv::pipeline::liveness::{check_video, FrameAnalyzer, LivenessReport, LIVENESS_MODELS};
use idv::pipeline::FaceAnalyzer;
use idv::settings::{Settings, POLICY_VERSION};
use serde::Serialize;

use super::{load_engine, read_bounded, CliError, EngineArgs};

#[derive(Args, Debug)]
pub struct LivenessArgs {
    /// Selfie video: MP4 (H.264) or WebM (VP8, VP9), at most `video.max_duration_s` long.
    pub video: PathBuf,
    /// The challenge as issued: each action (blink, turn_left, turn_right) with the second it was
    /// prompted at, e.g. `blink@2.0,turn_left@5.5`. An action without `@` is searched anywhere after
    /// the previous one, for recordings of old untimed challenges only: the verdict is then at best
    /// `refer` (`challenge_untimed`), as it is without a challenge.
    #[arg(long, env = "IDV_CHALLENGE", value_parser = parse_challenge)]
    pub challenge: Option<ChallengeArg>,
    /// Seconds after its prompt within which each action must begin (default: `challenge.window_s`).
    #[arg(long, env = "IDV_WINDOW", requires = "challenge", value_parser = parse_window)]
    pub window: Option<f64>,
    /// The video is mirrored (recorded as the selfie preview shows it): left and right swap.
    #[arg(long, env = "IDV_MIRRORED")]
    pub mirrored: bool,
    /// Print one JSON object instead of the human summary.
    #[arg(long, env = "IDV_JSON")]
    pub json: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// The `--challenge` schedule; its window is set from `--window` or the settings when it is used.
#[derive(Debug, Clone)]
pub struct ChallengeArg(pub Schedule);

pub fn parse_challenge(text: &str) -> Result<ChallengeArg, String> {
    parse_schedule(text, 1.0).map(ChallengeArg)
}

pub fn parse_window(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 60.0 => Ok(s),
        _ => Err(format!(
            "`{text}`: the window is seconds, more than 0 and at most 60"
        )),
    }
}

impl ChallengeArg {
    /// The schedule with its window: `window`, else the configured one.
    pub fn schedule(&self, window: Option<f64>, settings: &Settings) -> Schedule {
        Schedule {
            window_s: window.unwrap_or(settings.challenge.window_s),
            ..self.0.clone()
        }
    }
}

impl From<VideoError> for CliError {
    fn from(e: VideoError) -> Self {
        CliError::input(e.code(), e.to_string())
    }
}

/// Reads a video file, refusing an oversized one before reading it.
pub fn read_video(path: &Path, limits: &VideoLimits) -> Result<Vec<u8>, CliError> {
    read_bounded(path, limits.max_bytes, |bytes| {
        VideoError::TooLarge {
            bytes,
            limit: limits.max_bytes,
        }
        .into()
    })
}

/// Runs the liveness check of a video file with the configured models and thresholds.
pub fn liveness_of(
    engine_args: &EngineArgs,
    settings: &Settings,
    video: &Path,
    challenge: &Schedule,
    mirrored: bool,
) -> Result<(idv::inference::Engine, LivenessReport), CliError> {
    let mut config = settings.liveness;
    config.mirrored |= mirrored;
    let bytes = read_video(video, &settings.video).map_err(|e| e.about("video", video))?;
    let engine = load_engine(engine_args, &LIVENESS_MODELS)?;
    let report = {
        let faces = FaceAnalyzer::new(&engine, settings.detector);
        let frames = FrameAnalyzer::new(&faces);
        check_video(
            &frames,
            bytes,
            challenge,
            &settings.video,
            &config,
            &settings.quality,
        )
        .map_err(|e| match e {
            idv::pipeline::liveness::LivenessError::Video(v) => {
                CliError::from(v).about("video", video)
            }
            idv::pipeline::liveness::LivenessError::Inference(i) => CliError::from(i),
        })?
    };
    Ok((engine, report))
}

/// Prints a report as one JSON object, with the policy version that judged it.
pub fn print_json(report: &impl Serialize) {
    #[derive(Serialize)]
    struct Versioned<'a, T: Serialize> {
        #[serde(flatten)]
        report: &'a T,
        policy_version: &'static str,
    }
    let out = Versioned {
        report,
        policy_version: POLICY_VERSION,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&out).expect("serialisable")
    );
}

pub fn run(
    engine_args: &EngineArgs,
    settings: Settings,
    args: LivenessArgs,
) -> Result<ExitCode, CliError> {
    let challenge = match &args.challenge {
        Some(c) => c.schedule(args.window, &settings),
        None => Schedule::none(),
    };
    let (_engine, report) = liveness_of(
        engine_args,
        &settings,
        &args.video,
        &challenge,
        args.mirrored,
    )?;
    if args.json {
        print_json(&report);
    } else {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn opt(v: Option<f32>, decimals: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or("-".into(), |v| format!("{v:.decimals$}"))
}

pub fn print_human(r: &LivenessReport) {
    let verdict = r.verdict.as_str();
    println!("verdict:  {verdict}");
    println!(
        "reasons:  {}",
        if r.reasons.is_empty() {
            "none".to_string()
        } else {
            r.reasons.join(", ")
        }
    );
    let challenge: Vec<String> = r
        .actions
        .iter()
        .map(|a| {
            let prompted = a
                .prompted_at_s
                .map_or(String::new(), |t| format!("@{t:.1}"));
            let seen = match (a.seen_at_s, a.frames) {
                (Some(t), Some((s, e))) => format!(", seen at {t:.2} s, frames {s}-{e}"),
                _ => String::new(),
            };
            let status = match a.timing {
                ActionTiming::OnTime => "on time",
                ActionTiming::Untimed => "done, UNTIMED",
                ActionTiming::Early => "NOT done: only before its prompt",
                ActionTiming::Late => "NOT done: late",
                ActionTiming::Missing => "NOT done",
            };
            format!("{}{prompted} {status}{seen}", a.action)
        })
        .collect();
    println!(
        "challenge: {}",
        if challenge.is_empty() {
            "none given".to_string()
        } else {
            challenge.join(", ")
        }
    );
    let seen: Vec<&str> = r.actions_seen.iter().map(|a| a.as_str()).collect();
    println!(
        "seen anywhere: {}",
        if seen.is_empty() {
            "nothing".into()
        } else {
            seen.join(", ")
        }
    );
    let v = &r.video;
    println!(
        "video:    {} {} {}x{} (turned {}°), {:.2} s; frames decoded {}, analysed {}",
        v.container,
        v.codec,
        v.width,
        v.height,
        v.rotation,
        v.last_frame_s,
        v.frames_decoded,
        r.frames_analysed
    );
    match &r.best_frame {
        Some(b) => println!("best frame: #{} at {:.2} s", b.index, b.time_s),
        None => println!("best frame: none"),
    }
    let s = &r.summary;
    println!(
        "summary:  one face in {:.0} % of frames; min similarity to best {}; shape change p90 {:.3}; median p_live {}; yaw {}..{}",
        s.single_face_share * 100.0,
        opt(s.min_similarity, 3),
        s.shape_change_p90,
        opt(s.p_live_median, 2),
        opt(s.yaw_min, 0),
        opt(s.yaw_max, 0)
    );
    println!(
        "timings:  total {:.0} ms (decoding thread busy {:.0} ms, analysis {:.0} ms)",
        r.timings.total.as_secs_f64() * 1e3,
        r.timings.decode.as_secs_f64() * 1e3,
        r.timings.analysis.as_secs_f64() * 1e3
    );
    println!();
    println!("frame  time  faces   yaw  pitch  roll  nose  closedL closedR   EAR  p_live  sharp  luma  norm    sim");
    for f in &r.frames {
        let sig = &f.signals;
        match &sig.face {
            None => println!("{:>5} {:>5.2} {:>6}", sig.index, sig.time_s, sig.faces),
            Some(face) => println!(
                "{:>5} {:>5.2} {:>6} {:>5.0} {:>6.0} {:>5.0} {:>5.2} {:>8} {:>7} {:>5.3} {:>7} {:>6.0} {:>5.0} {:>5} {:>6}",
                sig.index,
                sig.time_s,
                sig.faces,
                face.pose.yaw,
                face.pose.pitch,
                face.pose.roll,
                face.nose_offset,
                opt(face.p_closed[0], 2),
                opt(face.p_closed[1], 2),
                face.mean_ear(),
                opt(face.p_live, 2),
                face.sharpness,
                face.exposure.mean_luma,
                opt(face.norm, 2),
                opt(f.similarity, 3),
            ),
        }
    }
}
