#![no_main]

use std::ops::ControlFlow;

use idv::media::video::{decode_video, VideoLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // Any panic on the way from the bytes to the frames is a bug: decode_video must turn every bad
        // input into a VideoError.
        std::panic::set_hook(Box::new(|info| {
            eprintln!("{info}");
            std::process::abort();
        }));
    },
    |data: &[u8]| {
        // Smaller limits than the service's keep each run fast; the code paths are the same.
        let limits = VideoLimits {
            max_bytes: 4 << 20,
            max_long_side: 640,
            max_short_side: 480,
            max_decode_s: 5.0,
            ..VideoLimits::default()
        };
        let _ = decode_video(data.to_vec(), &limits, |frame| {
            std::hint::black_box(frame.image.as_raw().len());
            ControlFlow::Continue(())
        });
    }
);
