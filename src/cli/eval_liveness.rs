//! `idv eval-liveness VIDEO... [--sample N --seed S] [--json]`: replay of genuine recordings against
//! time-bound challenges. Each clip's per-frame signals are computed once; the pure verdict then judges
//! them against every schedule the service could issue (`[challenge]`'s grid, or a seeded random
//! sample of it) and against the schedule that matches the clip's own timing. Exits 1 when the replay
//! APCER is over `--max-apcer` or a clip fails its own schedule.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use idv::eval::replay::{matched_schedule, replay_against, ReplayTally, MATCHED_LAG_S};
use idv::liveness::schedule::MAX_ACTIONS;
use idv::liveness::{Schedule, Verdict};
use idv::pipeline::liveness::{report, FrameAnalyzer, LIVENESS_MODELS};
use idv::pipeline::FaceAnalyzer;
use idv::settings::Settings;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use super::liveness::read_video;
use super::{load_engine, CliError, EngineArgs};

#[derive(Args, Debug)]
pub struct EvalLivenessArgs {
    /// Genuine recordings (MP4 or WebM), e.g. ../shared/data/liveportrait/video/*.mp4.
    #[arg(required = true)]
    pub videos: Vec<PathBuf>,
    /// Judge this many schedules drawn at random (seeded) instead of the whole grid.
    #[arg(long, env = "IDV_EVAL_SAMPLE")]
    pub sample: Option<usize>,
    /// Seed of the random sample.
    #[arg(long, env = "IDV_EVAL_SEED", default_value_t = 19)]
    pub seed: u64,
    /// The replay APCER (share of schedules passed) above which the command fails.
    #[arg(long, default_value_t = 0.01)]
    pub max_apcer: f64,
    /// The video is mirrored (left and right swap).
    #[arg(long, env = "IDV_MIRRORED")]
    pub mirrored: bool,
    /// Print one JSON object instead of the table.
    #[arg(long, env = "IDV_JSON")]
    pub json: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Serialize)]
struct ClipResult {
    clip: String,
    duration_s: f64,
    frames_analysed: usize,
    /// Wall time of decoding and the models; judging every schedule is in `judge_ms`.
    analysis_ms: f64,
    judge_ms: f64,
    /// The actions the clip holds, in order, with when each was seen.
    seen: Vec<String>,
    replay: ReplayTally,
    /// The schedule that matches the clip's timing (each prompt `MATCHED_LAG_S` before the action).
    matched: Option<String>,
    matched_verdict: Option<Verdict>,
    matched_reasons: Vec<String>,
}

#[derive(Serialize)]
struct Summary {
    distinct_schedules: usize,
    schedules_per_clip: usize,
    sampled: bool,
    window_s: f64,
    replay: ReplayTally,
    replay_apcer: f64,
    challenge_met_share: f64,
    matched_lag_s: f64,
    bona_fide_pass: usize,
    bona_fide_refer: usize,
    bona_fide_fail: usize,
    /// Clips holding no action at all: no schedule matches them.
    clips_without_actions: usize,
}

pub fn run(
    engine_args: &EngineArgs,
    settings: Settings,
    args: EvalLivenessArgs,
) -> Result<ExitCode, CliError> {
    let mut config = settings.liveness;
    config.mirrored |= args.mirrored;
    let grid = settings.challenge;
    let schedules: Vec<Schedule> = match args.sample {
        Some(n) => {
            let mut rng = StdRng::seed_from_u64(args.seed);
            (0..n).map(|_| grid.generate(&mut rng)).collect()
        }
        None => grid.all_schedules().collect(),
    };
    let engine = load_engine(engine_args, &LIVENESS_MODELS)?;
    let faces = FaceAnalyzer::new(&engine, settings.detector);
    let analyzer = FrameAnalyzer::new(&faces);

    let mut clips = Vec::new();
    for path in &args.videos {
        let bytes = read_video(path, &settings.video).map_err(|e| e.about("video", path))?;
        let analysed = analyzer
            .video(bytes, &settings.video, &config)
            .map_err(|e| match e {
                idv::pipeline::liveness::LivenessError::Video(v) => {
                    CliError::from(v).about("video", path)
                }
                idv::pipeline::liveness::LivenessError::Inference(i) => CliError::from(i),
            })?;
        let started = Instant::now();
        let frames = &analysed.frames;
        let replay = replay_against(
            frames,
            schedules.iter().cloned(),
            &config,
            &settings.quality,
        );
        let judge_ms = started.elapsed().as_secs_f64() * 1e3;
        // Every action the clip holds: asking fewer would leave turns nobody asked for.
        let matched = matched_schedule(frames, &config, MAX_ACTIONS, grid.window_s);
        let seen = idv::liveness::search::seen_in_order(frames, &config)
            .iter()
            .map(|r| format!("{}@{:.2}", r.action, r.seen_at_s.unwrap_or(f64::NAN)))
            .collect();
        let own = matched
            .as_ref()
            .map(|s| report(analysed.clone(), s, &config, &settings.quality));
        clips.push(ClipResult {
            clip: path.display().to_string(),
            duration_s: analysed.info.last_frame_s,
            frames_analysed: frames.len(),
            analysis_ms: analysed.timings.total.as_secs_f64() * 1e3,
            judge_ms,
            seen,
            replay,
            matched: matched.as_ref().map(Schedule::to_string),
            matched_verdict: own.as_ref().map(|r| r.verdict),
            matched_reasons: own.map(|r| r.reasons).unwrap_or_default(),
        });
    }

    let mut total = ReplayTally::default();
    for c in &clips {
        total.add(&c.replay);
    }
    let count = |v: Verdict| {
        clips
            .iter()
            .filter(|c| c.matched_verdict == Some(v))
            .count()
    };
    let summary = Summary {
        distinct_schedules: grid.distinct_schedules(),
        schedules_per_clip: schedules.len(),
        sampled: args.sample.is_some(),
        window_s: grid.window_s,
        replay_apcer: total.apcer(),
        challenge_met_share: total.challenge_met_share(),
        replay: total,
        matched_lag_s: MATCHED_LAG_S,
        bona_fide_pass: count(Verdict::Pass),
        bona_fide_refer: count(Verdict::Refer),
        bona_fide_fail: count(Verdict::Fail),
        clips_without_actions: clips.iter().filter(|c| c.matched.is_none()).count(),
    };
    let ok = summary.replay_apcer <= args.max_apcer && summary.bona_fide_fail == 0;
    if args.json {
        let out = serde_json::json!({ "clips": clips, "summary": summary, "ok": ok });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).expect("serialisable")
        );
    } else {
        print_table(&clips, &summary);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

fn print_table(clips: &[ClipResult], s: &Summary) {
    println!(
        "schedules: {} distinct on the grid; {} judged per clip{}; window {} s",
        s.distinct_schedules,
        s.schedules_per_clip,
        if s.sampled { " (random sample)" } else { "" },
        s.window_s
    );
    println!();
    println!("| clip | length | actions seen | replay: pass / refer / fail | challenge met | own schedule | verdict |");
    println!("|---|---|---|---|---|---|---|");
    for c in clips {
        let verdict = match c.matched_verdict {
            Some(v) if c.matched_reasons.is_empty() => v.to_string(),
            Some(v) => format!("{v} ({})", c.matched_reasons.join(", ")),
            None => "no action to match".into(),
        };
        println!(
            "| {} | {:.1} s | {} | {} / {} / {} | {} | {} | {} |",
            c.clip,
            c.duration_s,
            if c.seen.is_empty() {
                "none".into()
            } else {
                c.seen.join(", ")
            },
            c.replay.pass,
            c.replay.refer,
            c.replay.fail,
            pct(c.replay.challenge_met_share()),
            c.matched.as_deref().unwrap_or("-"),
            verdict
        );
    }
    println!();
    println!(
        "replay APCER {} ({} of {} presentations passed); challenge met by the footage {}",
        pct(s.replay_apcer),
        s.replay.pass,
        s.replay.schedules,
        pct(s.challenge_met_share)
    );
    println!(
        "own schedule (prompt {} s before each action): pass {}, refer {}, fail {}; clips without an action {}",
        s.matched_lag_s, s.bona_fide_pass, s.bona_fide_refer, s.bona_fide_fail, s.clips_without_actions
    );
    let times: Vec<String> = clips
        .iter()
        .map(|c| format!("{:.0} + {:.0} ms", c.analysis_ms, c.judge_ms))
        .collect();
    println!("time per clip (analysis + judging): {}", times.join(", "));
}
