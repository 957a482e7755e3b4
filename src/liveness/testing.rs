//! Synthetic signal sequences for the unit tests of the action search and the verdict: frames at 15
//! per second, a face that speaks (its shape changes), eyes that blink and a head that turns on demand.

use super::action::Action;
use super::schedule::Schedule;
use super::signals::{FaceSignals, FrameSignals};
use super::verdict::{liveness_verdict, LivenessConfig, LivenessDecision};
use crate::vision::embed::Embedding;
use crate::vision::pose::HeadPose;
use crate::vision::quality::{Exposure, QualityConfig};
use crate::vision::{BoxF, Point};

pub(crate) const OPEN: f32 = 0.02;
pub(crate) const SHUT: f32 = 0.98;

/// A face shape; `mouth` opens the mouth and `lids` lowers the upper eyelids (pixels).
pub(crate) fn shape(mouth: f32, lids: f32) -> Vec<Point> {
    let mut lm: Vec<Point> = (0..68)
        .map(|k| {
            let t = k as f32 * 0.37;
            [200.0 + 60.0 * t.cos(), 220.0 + 80.0 * t.sin()]
        })
        .collect();
    lm[36] = [160.0, 200.0];
    lm[45] = [240.0, 200.0];
    for p in &mut lm[48..68] {
        p[1] += mouth;
    }
    for k in [37, 38, 43, 44] {
        lm[k][1] += lids;
    }
    lm
}

pub(crate) fn embedding(seed: usize) -> Embedding {
    let raw: Vec<f32> = (0..512)
        .map(|i| if i % 7 == seed % 7 { 1.0 } else { 0.1 })
        .collect();
    Embedding::from_raw(&raw).unwrap().0
}

pub(crate) struct F {
    pub yaw: f32,
    pub closed: [f32; 2],
    pub ear: f32,
    pub faces: usize,
    pub person: usize,
    pub mouth: f32,
    pub live: f32,
}

pub(crate) fn f(yaw: f32) -> F {
    F {
        yaw,
        closed: [OPEN, OPEN],
        ear: 0.3,
        faces: 1,
        person: 0,
        mouth: 0.0,
        live: 0.95,
    }
}

pub(crate) fn shut(mut x: F) -> F {
    x.closed = [SHUT, SHUT];
    x.ear = 0.15;
    x
}

/// Frames at 15 per second; every frame embedded and passively scored; the mouth moves as people's do.
pub(crate) fn frames(spec: Vec<F>) -> Vec<FrameSignals> {
    spec.into_iter()
        .enumerate()
        .map(|(i, s)| FrameSignals {
            index: i,
            time_s: i as f64 / 15.0,
            faces: s.faces,
            face: (s.faces > 0).then(|| FaceSignals {
                bbox: BoxF {
                    x1: 100.0,
                    y1: 100.0,
                    x2: 300.0,
                    y2: 340.0,
                },
                score: 0.99,
                cut_off: false,
                landmarks68: shape(
                    s.mouth + (i % 5) as f32 * 3.0,
                    if s.closed[0] > 0.5 { 8.0 } else { 0.0 },
                ),
                p_closed: s.closed.map(Some),
                ear: [s.ear; 2],
                nose_offset: -s.yaw / 100.0,
                pose: HeadPose {
                    yaw: s.yaw,
                    pitch: -5.0,
                    roll: 1.0,
                },
                p_live: Some(s.live),
                sharpness: 400.0,
                exposure: Exposure {
                    mean_luma: 120.0,
                    dark_share: 0.0,
                    bright_share: 0.0,
                },
                embedding: Some(embedding(s.person)),
                norm: Some(3.8),
            }),
        })
        .collect()
}

pub(crate) fn still(n: usize) -> Vec<F> {
    (0..n).map(|_| f(0.0)).collect()
}

/// A timed schedule whose windows never close: the actions are only searched in order, which is what the
/// tests of the detection rules need (the timing rules have their own).
pub(crate) fn anytime(actions: &[Action]) -> Schedule {
    Schedule::timed(actions, &vec![0.0; actions.len()], 1e6)
}

pub(crate) fn run(actions: &[Action], spec: Vec<F>) -> LivenessDecision {
    run_schedule(&anytime(actions), spec)
}

pub(crate) fn run_schedule(schedule: &Schedule, spec: Vec<F>) -> LivenessDecision {
    liveness_verdict(
        schedule,
        &frames(spec),
        &LivenessConfig::default(),
        &QualityConfig::default(),
    )
}

/// 12 frontal frames, a blink of 2 frames, 12 frontal frames.
pub(crate) fn blink_video() -> Vec<F> {
    let mut v = still(12);
    v.extend([shut(f(0.0)), shut(f(0.0))]);
    v.extend(still(12));
    v
}

/// Frontal, then a turn to `yaw` held for 5 frames, then frontal again.
pub(crate) fn turn_video(yaw: f32) -> Vec<F> {
    let mut v = still(10);
    v.extend([f(yaw / 2.0), f(yaw), f(yaw), f(yaw), f(yaw), f(yaw / 2.0)]);
    v.extend(still(10));
    v
}
